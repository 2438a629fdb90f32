/**
 * Archiving by age: events older than the policy's `archiveAfterDays` leave the object for an
 * R2 segment, in the format compaction archives use (JSONL of the events' API views, and a
 * Markdown transcript). Unlike compaction nothing is summarized and nothing leaves the
 * context: a segmented row keeps its seq, version, type, token counts and preview, and only
 * its content and metadata move out, so every read path that already reads compacted events
 * back from their archives (isStub / loadArchived) reads these back too, the window is the same
 * as before, and the D1 index is untouched. The session version does not change.
 *
 * One keyed timer: armed by an append (cheaply: it is only created when none waits) for when
 * its oldest hot event comes of age; each run moves at most SEGMENT_EVENTS and re-arms.
 */
import { ok } from "../../errors";
import { transcript } from "../compaction/compactor";
import type { EventRow } from "../events/log";
import { stripContent, toEvent } from "../events/log";
import type { TimerHandler } from "../kernel/capability";
import * as timers from "../kernel/timers";
import { type SessionRow, sessionPolicy } from "../sessions/session-row";

export const ARCHIVE_TIMER = "archive_events";
const SEGMENT_EVENTS = 1000;
const DAY_MS = 86_400_000;
const encoder = new TextEncoder();

/**
 * Events whose content is still here and could be moved out: not compacted, not pinned, not in
 * R2 already, and not errors (the window's work-status block and escalation packages read
 * failed attempts' lessons straight from their rows; they are few and small).
 */
const HOT_INLINE = "archived_by IS NULL AND segment_id IS NULL AND content IS NOT NULL AND pinned = 0 AND type != 'error'";
/** Content one segment carries at most (a run holds it in memory twice: rows and JSONL). */
const SEGMENT_BYTES = 4 * 1024 * 1024;
/** How long a run waits for more events to come of age before the next, so segments are not one event each. */
const MAX_BATCHING_MS = 3_600_000;

function archiveAfterMs(row: SessionRow): number | null {
	const days = sessionPolicy(row).retention?.archiveAfterDays;
	return days === undefined ? null : days * DAY_MS;
}

/** When the oldest event still here comes of age; null when nothing will. */
function nextDue(sql: SqlStorage, row: SessionRow): number | null {
	const after = archiveAfterMs(row);
	if (after === null) return null;
	const oldest = sql.exec<{ at: number | null }>(`SELECT min(created_at) AS at FROM events WHERE ${HOT_INLINE}`).one().at;
	return oldest === null ? null : oldest + after;
}

/** After an append: makes sure a run waits, if the policy archives (a no-op otherwise). */
export function scheduleArchiving(sql: SqlStorage, row: SessionRow, now: number): void {
	const after = archiveAfterMs(row);
	if (after !== null) timers.ensureScheduled(sql, ARCHIVE_TIMER, "", now + after);
}

/** After a policy change: arms the timer for the policy as it now stands, or disarms it. */
export function rescheduleArchiving(sql: SqlStorage, row: SessionRow): void {
	const due = nextDue(sql, row);
	if (due === null) timers.cancel(sql, ARCHIVE_TIMER, "");
	else timers.schedule(sql, ARCHIVE_TIMER, "", due);
}

function candidates(sql: SqlStorage, cutoff: number): EventRow[] {
	const rows: EventRow[] = [];
	let bytes = 0;
	for (const row of sql.exec<EventRow & Record<string, SqlStorageValue>>(`SELECT * FROM events WHERE ${HOT_INLINE} AND created_at <= ? ORDER BY seq LIMIT ?`, cutoff, SEGMENT_EVENTS)) {
		bytes += (row.content?.length ?? 0) + (row.metadata?.length ?? 0);
		if (rows.length > 0 && bytes > SEGMENT_BYTES) break;
		rows.push(row);
	}
	return rows;
}

export const archiveEvents: TimerHandler = async (session, run) => {
	const row = session.kernel.session();
	if (!row || row.status !== "active") return;
	const after = archiveAfterMs(row);
	if (after === null) return;
	const cutoff = Date.now() - after;
	const result = await session.kernel.write({
		operation: "archive",
		timer: run,
		fenced: false,
		whilePaused: true,
		whileClosed: true,
		// Rows compacted, restored or archived meanwhile make the plan stale: it re-plans.
		basis: () => candidates(session.sql, cutoff).map((event) => event.seq),
		prepare: async ({ uploads }) => {
			const events = candidates(session.sql, cutoff);
			if (events.length === 0) return { events, key: null, bytes: 0 };
			const from = events[0].seq;
			const to = events[events.length - 1].seq;
			const jsonl = `${events.map((event) => JSON.stringify(toEvent(event))).join("\n")}\n`;
			const markdown = `# Session ${row.id}: events ${from}–${to} (archived by age)\n\n${transcript(events)}`;
			// A unique name: the same range can be archived again after a restore brought it back.
			const key = await uploads.putArchive(`segment-${from}-${to}.${crypto.randomUUID().slice(0, 8)}`, jsonl, markdown);
			return { events, key, bytes: encoder.encode(jsonl).byteLength + encoder.encode(markdown).byteLength };
		},
		apply: ({ plan, row: current, now }) => {
			if (plan.key !== null) {
				const segment = session.sql
					.exec<{ id: number }>(
						"INSERT INTO segments (from_seq, to_seq, event_count, archive_key, archive_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
						plan.events[0].seq,
						plan.events[plan.events.length - 1].seq,
						plan.events.length,
						plan.key,
						plan.bytes,
						now,
					)
					.one().id;
				for (const event of plan.events) stripContent(session.sql, event.seq, { content: null, metadata: null, segment_id: segment });
			}
			const due = nextDue(session.sql, current as SessionRow);
			const more = plan.events.length > 0 && candidates(session.sql, cutoff).length > 0;
			if (due !== null) timers.schedule(session.sql, ARCHIVE_TIMER, "", more ? now : Math.max(due, now + Math.min(MAX_BATCHING_MS, after / 10)));
			return ok(null);
		},
	});
	if (!result.ok && result.code !== "session_deleted") throw new Error(`${result.code}: ${result.message}`);
};
