/**
 * Namespaced, versioned key-value state. A key's version is the session version of its last
 * write, so it only ever grows: a compare-and-set against a deleted-then-recreated key can
 * never succeed by accident (no ABA). Every change is also appended to state_log, in the same
 * transaction, so the state as of any version can be rebuilt (time travel, restore, fork).
 */
import { toPage } from "../../paging";
import type { StateItem } from "../../schemas/state";
import type { PlacedValue } from "../content/placement";
import { isSystemNamespace, PUBLIC_NAMESPACES } from "./namespaces";

export interface StateRow {
	ns: string;
	key: string;
	value: string | null;
	blob_sha256: string | null;
	blob_bytes: number | null;
	preview: string | null;
	version: number;
	pinned: number;
	/** Tokens of the key's line in the state digest of a context window. */
	tokens: number;
	updated_at: number;
}

type Row = StateRow & Record<string, SqlStorageValue>;

export interface StateWrite {
	value: PlacedValue;
	pinned: boolean;
	tokens: number;
}

export function readKey(sql: SqlStorage, ns: string, key: string): StateItem | null {
	const row = sql.exec<Row>("SELECT * FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0];
	return row ? toItem(row) : null;
}

/** The key's current version, 0 when it does not exist. */
export function keyVersion(sql: SqlStorage, ns: string, key: string): number {
	const row = sql.exec<{ version: number }>("SELECT version FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0];
	return row?.version ?? 0;
}

/** The text a key contributes to a context window's state digest. */
export function digestLine(ns: string, key: string, text: string): string {
	return `${ns}/${key}: ${text}`;
}

export function writeKey(sql: SqlStorage, ns: string, key: string, write: StateWrite, version: number, now: number): void {
	const row: StateRow = {
		ns,
		key,
		value: write.value.inline,
		blob_sha256: write.value.blob?.sha256 ?? null,
		blob_bytes: write.value.blob?.bytes ?? null,
		preview: write.value.preview,
		version,
		pinned: write.pinned ? 1 : 0,
		tokens: write.tokens,
		updated_at: now,
	};
	putRow(sql, row);
}

/** Writes a row as it is (restore copies rows from the log) and logs it. */
export function putRow(sql: SqlStorage, row: StateRow): void {
	sql.exec(
		`INSERT INTO state (ns, key, value, blob_sha256, blob_bytes, preview, version, pinned, tokens, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, blob_sha256 = excluded.blob_sha256,
			blob_bytes = excluded.blob_bytes, preview = excluded.preview, version = excluded.version,
			pinned = excluded.pinned, tokens = excluded.tokens, updated_at = excluded.updated_at`,
		row.ns,
		row.key,
		row.value,
		row.blob_sha256,
		row.blob_bytes,
		row.preview,
		row.version,
		row.pinned,
		row.tokens,
		row.updated_at,
	);
	logChange(sql, row, false);
}

export function deleteKey(sql: SqlStorage, ns: string, key: string, version: number, now: number): void {
	sql.exec("DELETE FROM state WHERE ns = ? AND key = ?", ns, key);
	logChange(
		sql,
		{ ns, key, value: null, blob_sha256: null, blob_bytes: null, preview: null, version, pinned: 0, tokens: 0, updated_at: now },
		true,
	);
}

function logChange(sql: SqlStorage, row: StateRow, deleted: boolean): void {
	sql.exec(
		`INSERT INTO state_log (ns, key, version, value, blob_sha256, blob_bytes, preview, pinned, tokens, deleted, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.ns,
		row.key,
		row.version,
		row.value,
		row.blob_sha256,
		row.blob_bytes,
		row.preview,
		row.pinned,
		row.tokens,
		deleted ? 1 : 0,
		row.updated_at,
	);
}

/** Pinned keys now, most recently written first (a window holds all of them or is refused). */
export function pinnedState(sql: SqlStorage, namespaces: string[] | undefined, scope: readonly string[] | null): StateRow[] {
	return [...pinnedStateNewestFirst(sql, namespaces, scope)];
}

/** Pinned keys through a cursor, for a layer that stops pulling at its share of the budget. */
export function* pinnedStateNewestFirst(sql: SqlStorage, namespaces: string[] | undefined, scope: readonly string[] | null): Generator<StateRow> {
	const filter = namespaceFilter(namespaces, scope);
	yield* sql.exec<Row>(`SELECT * FROM state WHERE pinned = 1 ${filter.clause} ORDER BY version DESC, ns, key`, ...filter.params);
}

/**
 * Unpinned keys now, most recently written first, read through a cursor: the caller stops
 * pulling at its share of the budget, so a window's cost does not grow with the key count.
 */
export function* unpinnedStateNewestFirst(sql: SqlStorage, namespaces: string[] | undefined, scope: readonly string[] | null): Generator<StateRow> {
	const filter = namespaceFilter(namespaces, scope);
	yield* sql.exec<Row>(`SELECT * FROM state WHERE pinned = 0 ${filter.clause} ORDER BY version DESC, ns, key`, ...filter.params);
}

export function unpinnedStateCount(sql: SqlStorage, namespaces: string[] | undefined, scope: readonly string[] | null): number {
	const filter = namespaceFilter(namespaces, scope);
	return sql.exec<{ n: number }>(`SELECT count(*) AS n FROM state WHERE pinned = 0 ${filter.clause}`, ...filter.params).one().n;
}

/** Keys (pinned or not) counted up to a limit, so counting what a layer left out reads no more rows than that. */
export function stateCountUpTo(sql: SqlStorage, pinned: boolean, scope: readonly string[] | null, limit: number): number {
	const filter = namespaceFilter(undefined, scope);
	return sql
		.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM state WHERE pinned = ? ${filter.clause} LIMIT ?)`, pinned ? 1 : 0, ...filter.params, limit)
		.one().n;
}

/**
 * The window's namespaces: those asked for, else every one the public API can address; and
 * of those only what the caller's scope admits (names, or prefixes ending in `*`, which are
 * GLOB patterns as they stand: the namespace alphabet has no other GLOB character).
 */
export function namespaceFilter(namespaces: string[] | undefined, scope: readonly string[] | null): { clause: string; params: string[] } {
	const asked = namespaces?.length
		? { clause: `AND ns IN (${namespaces.map(() => "?").join(",")})`, params: namespaces }
		: { clause: `AND ${PUBLIC_NAMESPACES}`, params: [] };
	if (scope === null) return asked;
	if (scope.length === 0) return { clause: `${asked.clause} AND 0`, params: asked.params };
	const admitted = scope.map((pattern) => (pattern.endsWith("*") ? "ns GLOB ?" : "ns = ?")).join(" OR ");
	return { clause: `${asked.clause} AND (${admitted})`, params: [...asked.params, ...scope] };
}

/** How many keys the public API can see (what the session reports as its state keys). */
export function publicKeyCount(rows: StateRow[]): number {
	return rows.filter((row) => !isSystemNamespace(row.ns)).length;
}

/** Every live key now, most recently written first. */
export function liveState(sql: SqlStorage): StateRow[] {
	return sql.exec<Row>("SELECT * FROM state ORDER BY version DESC, ns, key").toArray();
}

/**
 * Every key as it was at `version` among the writes visible then (`visible` is the
 * interval test of history.ts, as SQL), most recently written first.
 */
export function stateAt(sql: SqlStorage, visible: { clause: string; params: SqlStorageValue[] }): StateRow[] {
	return sql
		.exec<Row & { deleted: number }>(
			`SELECT * FROM (
				SELECT *, row_number() OVER (PARTITION BY ns, key ORDER BY version DESC) AS position
				FROM state_log WHERE ${visible.clause}
			) WHERE position = 1 AND deleted = 0 ORDER BY version DESC, ns, key`,
			...visible.params,
		)
		.toArray()
		.map(({ deleted: _deleted, position: _position, ...row }) => row as unknown as StateRow);
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

export function toItem(row: StateRow): StateItem {
	const item: StateItem = {
		ns: row.ns,
		key: row.key,
		version: row.version,
		pinned: row.pinned === 1,
		updatedAt: new Date(row.updated_at).toISOString(),
	};
	if (row.value !== null) item.value = JSON.parse(row.value);
	if (row.blob_sha256) item.valueRef = { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" };
	return item;
}
