/**
 * Namespaced, versioned key-value state. A key's version is the session version of its last
 * write, so it only ever grows: a compare-and-set against a deleted-then-recreated key can
 * never succeed by accident (no ABA).
 */
import type { StateItem } from "../schemas/state";
import type { PlacedValue } from "./content";
import { toPage } from "../paging";

interface StateRow {
	ns: string;
	key: string;
	value: string | null;
	blob_sha256: string | null;
	blob_bytes: number | null;
	preview: string | null;
	version: number;
	updated_at: number;
}

type Row = StateRow & Record<string, SqlStorageValue>;

export function readKey(sql: SqlStorage, ns: string, key: string): StateItem | null {
	const row = sql.exec<Row>("SELECT * FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0];
	return row ? toItem(row) : null;
}

/** The key's current version, 0 when it does not exist. */
export function keyVersion(sql: SqlStorage, ns: string, key: string): number {
	const row = sql.exec<{ version: number }>("SELECT version FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0];
	return row?.version ?? 0;
}

/** Writes the key at `version`; returns whether it was newly created. */
export function writeKey(
	sql: SqlStorage,
	ns: string,
	key: string,
	value: PlacedValue,
	version: number,
	now: number,
): boolean {
	const existed = keyVersion(sql, ns, key) > 0;
	sql.exec(
		`INSERT INTO state (ns, key, value, blob_sha256, blob_bytes, preview, version, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, blob_sha256 = excluded.blob_sha256,
			blob_bytes = excluded.blob_bytes, preview = excluded.preview, version = excluded.version,
			updated_at = excluded.updated_at`,
		ns,
		key,
		value.inline,
		value.blob?.sha256 ?? null,
		value.blob?.bytes ?? null,
		value.preview,
		version,
		now,
	);
	return !existed;
}

export function deleteKey(sql: SqlStorage, ns: string, key: string): void {
	sql.exec("DELETE FROM state WHERE ns = ? AND key = ?", ns, key);
}

export function readNamespace(
	sql: SqlStorage,
	ns: string,
	query: { after?: string; limit: number },
): { items: StateItem[]; nextAfter: string | null } {
	const rows = sql
		.exec<Row>("SELECT * FROM state WHERE ns = ? AND key > ? ORDER BY key LIMIT ?", ns, query.after ?? "", query.limit + 1)
		.toArray();
	const { page, next } = toPage(rows, query.limit, (row) => row.key);
	return { items: page.map(toItem), nextAfter: next };
}

function toItem(row: StateRow): StateItem {
	const item: StateItem = {
		ns: row.ns,
		key: row.key,
		version: row.version,
		updatedAt: new Date(row.updated_at).toISOString(),
	};
	if (row.value !== null) item.value = JSON.parse(row.value);
	if (row.blob_sha256) item.valueRef = { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" };
	return item;
}
