/**
 * Appended events reach the D1 index by following a mark, as the audit trail does, not through
 * an outbox row each: the event rows are already the durable record of what to project, and an
 * outbox row per append was one more billed row on every write (bench:peer). Once the outbox
 * is empty the drain projects the events past the mark with the session row as it now stands,
 * and the mark moves only after D1 has them. Statements are idempotent (db/projection.ts), so a
 * drain cut off and re-run sends some events twice and loses none.
 */
import type { ProjectionChange } from "../../db/projection";
import type { EventType } from "../../schemas/events";
import { eventTexts } from "../search/feed";
import { indexRow, readSession } from "../sessions/session-row";

/** Events one change carries: 4 statements of event rows and 4 of their text, 12 rows each. */
const EVENTS_PER_CHANGE = 48;

export const APPENDED_MIGRATION = [
	"CREATE TABLE event_projection (projected_seq INTEGER NOT NULL)",
	// Events already appended went through the outbox: the mark starts after them.
	"INSERT INTO event_projection (projected_seq) SELECT coalesce(max(seq), 0) FROM events",
];

/** The next events D1 has not seen, as one change, and the seq the mark moves to once applied. */
export function peekAppended(sql: SqlStorage): { change: ProjectionChange; through: number } | null {
	const rows = sql
		.exec<{ seq: number; type: string; role: string | null; name: string | null; tokens: number; created_at: number }>(
			"SELECT seq, type, role, name, tokens, created_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
			projectedThrough(sql),
			EVENTS_PER_CHANGE,
		)
		.toArray();
	const session = readSession(sql);
	if (rows.length === 0 || !session) return null;
	const first = rows[0].seq;
	const through = rows[rows.length - 1].seq;
	const events = rows.map((row) => ({ seq: row.seq, type: row.type as EventType, role: row.role, name: row.name, tokens: row.tokens, createdAt: row.created_at }));
	return { change: { kind: "write", session: indexRow(session), events, texts: eventTexts(sql, first, through) }, through };
}

export function markAppendedProjected(sql: SqlStorage, through: number): void {
	sql.exec("UPDATE event_projection SET projected_seq = max(projected_seq, ?)", through);
}

export function unprojectedEvents(sql: SqlStorage): number {
	return sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE seq > ?", projectedThrough(sql)).one().n;
}

function projectedThrough(sql: SqlStorage): number {
	return sql.exec<{ projected_seq: number }>("SELECT projected_seq FROM event_projection").one().projected_seq;
}
