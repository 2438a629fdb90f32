/**
 * Changes waiting to reach the D1 index. A row is inserted in the same transaction as the
 * change it describes and deleted only after D1 has applied it, so the index can lag but
 * never miss a change. Applying a row twice is harmless (see db/projection.ts).
 */
import { type ProjectionChange, statementsFor } from "../../db/projection";
import * as timers from "../kernel/timers";
import { markAppendedProjected, peekAppended, unprojectedEvents } from "./appended";

export const DRAIN_TIMER = "drain_outbox";

/**
 * How long changes wait before they are projected to D1. One drain then carries every write
 * of that second: draining after each write made every write pay for an alarm and a D1 call
 * (measured: 4.5 ms against 2.5 ms per append), for an index that is eventual anyway.
 */
export const PROJECTION_DELAY_MS = 1000;

/** Rows one drain reads at a time, and D1 statements one batch may carry. */
const PEEK_ROWS = 50;
const MAX_STATEMENTS_PER_BATCH = 64;

/**
 * Queues a change for the D1 index, in the transaction of the write it describes, and brings
 * the drain within PROJECTION_DELAY_MS. A drain reads the outbox until it is empty and
 * completes in the same synchronous step as that last read (drain.ts), so a row can never be
 * left behind by a drain that is finishing.
 */
export function project(sql: SqlStorage, change: ProjectionChange, now: number): void {
	// Never an id a drain in flight has peeked: it acknowledges by id once D1 answers, and a
	// deletion may have emptied the outbox meanwhile (see clear).
	sql.exec(
		`INSERT INTO outbox (id, payload, created_at)
		 VALUES (max(coalesce((SELECT max(id) FROM outbox), 0), (SELECT last_removed_id FROM outbox_mark)) + 1, ?, ?)`,
		JSON.stringify(change),
		now,
	);
	scheduleProjection(sql, now);
}

/** Arms the drain, within PROJECTION_DELAY_MS, for a change it finds on its own (appended events). */
export function scheduleProjection(sql: SqlStorage, now: number): void {
	timers.ensureScheduledBy(sql, DRAIN_TIMER, "", now + PROJECTION_DELAY_MS);
}

/**
 * How long audit records and lookup figures may wait for the drain when no change to the index
 * does. Measured (bench:sessions, 100 sessions read in turn): with a drain a second after
 * every read, each read of a rarely read session paid for a drain of its own, and state gets
 * answered at 192 req/s, p95 149 ms; with 30 s, 356 req/s, p95 34 ms. A write still brings
 * the drain forward to a second.
 */
export const RECORDS_DELAY_MS = 30_000;

/** Arms the drain for records that can wait (see RECORDS_DELAY_MS). */
export function scheduleRecords(sql: SqlStorage, now: number): void {
	timers.ensureScheduled(sql, DRAIN_TIMER, "", now + RECORDS_DELAY_MS);
}

/** What one drain round sends, and what to acknowledge once D1 has it. */
export interface Peeked {
	changes: ProjectionChange[];
	/** The last outbox row sent, or null when the round carries none. */
	lastId: number | null;
	/** The last appended event sent (appended.ts), or null. */
	eventsThrough: number | null;
}

/**
 * The oldest changes that fit in one D1 batch (at least one, however large: a change of 500
 * events makes 43 statements), and the appended events D1 has not seen if they fit beside
 * them: a session whose writes keep the outbox from ever being empty must not hold its events
 * back. Event rows depend on no other row in D1, and a purge leaves no events to send.
 */
export function peek(sql: SqlStorage): Peeked | null {
	const rows = sql.exec<{ id: number; payload: string }>("SELECT id, payload FROM outbox ORDER BY id LIMIT ?", PEEK_ROWS).toArray();
	const changes: ProjectionChange[] = [];
	let statements = 0;
	let lastId: number | null = null;
	for (const row of rows) {
		const change = JSON.parse(row.payload) as ProjectionChange;
		const cost = statementsFor(change);
		if (changes.length > 0 && statements + cost > MAX_STATEMENTS_PER_BATCH) break;
		changes.push(change);
		statements += cost;
		lastId = row.id;
	}
	const appended = peekAppended(sql);
	if (appended && (changes.length === 0 || statements + statementsFor(appended.change) <= MAX_STATEMENTS_PER_BATCH)) {
		return { changes: [...changes, appended.change], lastId, eventsThrough: appended.through };
	}
	return changes.length > 0 ? { changes, lastId, eventsThrough: null } : null;
}

export function acknowledge(sql: SqlStorage, peeked: Peeked): void {
	if (peeked.eventsThrough !== null) markAppendedProjected(sql, peeked.eventsThrough);
	if (peeked.lastId === null) return;
	sql.exec("UPDATE outbox_mark SET last_removed_id = max(last_removed_id, ?)", peeked.lastId);
	sql.exec("DELETE FROM outbox WHERE id <= ?", peeked.lastId);
}

/** Changes D1 has not seen: outbox rows and appended events. */
export function pendingCount(sql: SqlStorage): number {
	return sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n + unprojectedEvents(sql);
}

/** Empties the outbox, keeping the highest id it gave out so the next one starts above it. */
export function clear(sql: SqlStorage): void {
	sql.exec("UPDATE outbox_mark SET last_removed_id = max(last_removed_id, coalesce((SELECT max(id) FROM outbox), 0))");
	sql.exec("DELETE FROM outbox");
}
