/**
 * Changes waiting to reach the D1 index. A row is inserted in the same transaction as the
 * change it describes and deleted only after D1 has applied it, so the index can lag but
 * never miss a change. Applying a row twice is harmless (see db/projection.ts).
 */
import type { ProjectionChange } from "../db/projection";

export function enqueue(sql: SqlStorage, change: ProjectionChange, now: number): void {
	sql.exec("INSERT INTO outbox (payload, created_at) VALUES (?, ?)", JSON.stringify(change), now);
}

export function peek(sql: SqlStorage, limit: number): { lastId: number; changes: ProjectionChange[] } | null {
	const rows = sql
		.exec<{ id: number; payload: string }>("SELECT id, payload FROM outbox ORDER BY id LIMIT ?", limit)
		.toArray();
	if (rows.length === 0) return null;
	return {
		lastId: rows[rows.length - 1].id,
		changes: rows.map((row) => JSON.parse(row.payload) as ProjectionChange),
	};
}

export function acknowledge(sql: SqlStorage, lastId: number): void {
	sql.exec("DELETE FROM outbox WHERE id <= ?", lastId);
}

export function pendingCount(sql: SqlStorage): number {
	return sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
}

export function clear(sql: SqlStorage): void {
	sql.exec("DELETE FROM outbox");
}
