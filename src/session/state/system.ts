/**
 * Documents the session keeps for its own capabilities (workflows, approvals) in reserved
 * state namespaces. The public API cannot name them (state names start with a letter or
 * digit); storing them as state rows means every version of them is in the state log, so
 * restore, fork and `context?at=V` cover them with no code of their own.
 */
import { type StateRow, putRow, stateAt } from "./state";

/** A stored document may not come near SQLite's 2 MB row limit. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;

export interface StoredDocument<T> {
	key: string;
	value: T;
	version: number;
}

export function readDocument<T>(sql: SqlStorage, ns: string, key: string): StoredDocument<T> | null {
	const row = sql.exec<{ value: string; version: number }>("SELECT value, version FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0];
	return row ? { key, value: JSON.parse(row.value) as T, version: row.version } : null;
}

/** Every document of the namespace, in key order. */
export function listDocuments<T>(sql: SqlStorage, ns: string): StoredDocument<T>[] {
	return sql
		.exec<{ key: string; value: string; version: number }>("SELECT key, value, version FROM state WHERE ns = ? ORDER BY key", ns)
		.toArray()
		.map((row) => ({ key: row.key, value: JSON.parse(row.value) as T, version: row.version }));
}

/** The namespace's documents as they were among the writes visible at an earlier version. */
export function documentsAt<T>(sql: SqlStorage, ns: string, visible: { clause: string; params: number[] }): StoredDocument<T>[] {
	return stateAt(sql, { clause: `(ns = ? AND ${visible.clause})`, params: [ns, ...visible.params] }).map((row: StateRow) => ({
		key: row.key,
		value: JSON.parse(row.value ?? "null") as T,
		version: row.version,
	}));
}

/** Writes a document at the session version of the write; call inside the kernel's transaction. */
export function writeDocument(sql: SqlStorage, ns: string, key: string, value: unknown, version: number, now: number): void {
	putRow(sql, { ns, key, value: JSON.stringify(value), blob_sha256: null, blob_bytes: null, preview: null, version, pinned: 0, tokens: 0, updated_at: now });
}

export function documentBytes(value: unknown): number {
	return new TextEncoder().encode(JSON.stringify(value)).length;
}
