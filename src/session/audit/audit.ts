/**
 * The session's audit trail: one append-only row for every write (in the write's own
 * transaction) and every read served (in the storage turn of the read, so the output gate
 * holds the response until the row is durable). A record names who (principal, agent), what
 * operation, at which session version, and what was touched (window parameters, keys, seq
 * ranges), never values. Rows reach the tenant-wide D1 trail through the projection drain,
 * which follows `projected_seq` rather than copying each row into the outbox.
 */
import type { Caller } from "../../auth/scopes";
import type { Json } from "../../schemas/common";
import { scheduleRecords } from "../projection/outbox";

export interface AuditEntry {
	caller: Caller | null;
	operation: string;
	version: number;
	what: Json;
}

export interface AuditRow {
	seq: number;
	at: number;
	principal: string;
	agent: string | null;
	operation: string;
	version: number;
	what: string | null;
	request_id: string | null;
}

export function record(sql: SqlStorage, entry: AuditEntry, now: number): void {
	const caller = entry.caller;
	sql.exec(
		// Seqs never repeat: D1 keeps every record by seq, and rows leave here only once projected.
		`INSERT INTO audit (seq, at, principal, agent, operation, version, what, request_id)
		 VALUES (max(coalesce((SELECT max(seq) FROM audit), 0), (SELECT projected_seq FROM audit_projection)) + 1, ?, ?, ?, ?, ?, ?, ?)`,
		now,
		caller?.principal ?? "system",
		caller?.agent ?? null,
		entry.operation,
		entry.version,
		entry.what === null ? null : JSON.stringify(entry.what),
		caller?.requestId ?? null,
	);
	scheduleRecords(sql, now);
}

export interface AuditQuery {
	since?: number;
	principal?: string;
	limit: number;
}

export function page(sql: SqlStorage, query: AuditQuery): AuditRow[] {
	return sql
		.exec<AuditRow & Record<string, SqlStorageValue>>(
			`SELECT seq, at, principal, agent, operation, version, what, request_id FROM audit
			 WHERE seq > ? AND (? IS NULL OR principal = ?) ORDER BY seq LIMIT ?`,
			query.since ?? 0,
			query.principal ?? null,
			query.principal ?? null,
			query.limit,
		)
		.toArray();
}

/** Rows not yet in D1, oldest first. */
export function unprojected(sql: SqlStorage, limit: number): AuditRow[] {
	const mark = sql.exec<{ projected_seq: number }>("SELECT projected_seq FROM audit_projection").one().projected_seq;
	return sql
		.exec<AuditRow & Record<string, SqlStorageValue>>(
			"SELECT seq, at, principal, agent, operation, version, what, request_id FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
			mark,
			limit,
		)
		.toArray();
}

/** How long the session itself keeps its records once D1 has them; D1 keeps them all. */
export const HOT_AUDIT_MS = 7 * 24 * 3600 * 1000;

/** Marks rows as in D1, and lets go of those in D1 that are older than HOT_AUDIT_MS. */
export function markProjected(sql: SqlStorage, seq: number, now: number): void {
	sql.exec("UPDATE audit_projection SET projected_seq = max(projected_seq, ?)", seq);
	sql.exec("DELETE FROM audit WHERE seq <= ? AND at < ?", seq, now - HOT_AUDIT_MS);
}

/** Erasure keeps the fact of each access (who, when, which operation) and drops what it touched. */
export function dropContent(sql: SqlStorage): number {
	return sql.exec("UPDATE audit SET what = NULL WHERE what IS NOT NULL").rowsWritten;
}
