/**
 * Retraction: hides the tail of the log (the events from a seq on) from the list and the
 * window, as one new version, and may append replacements in the same write. This is what a
 * framework's "pop the last item", "clear" and "replace the suffix if it is still what I read"
 * need, atomically: never a restore followed by a re-append. The rows stay in the log (the
 * audit history, `includeRetracted=true`); what is hidden, and from which version, is recorded in
 * the retractions table (retractions.ts), so a restore to a version before the retraction brings
 * them back. A compaction summary covering a retracted event is hidden with it.
 */
import { fail, ok } from "../../errors";
import type { AppendResult, RetractEventsBody, RetractResult } from "../../schemas/events";
import { refreshContextSize } from "../compaction/compactor";
import { type Intervals, visibilitySql, visibleIntervals } from "../history/visibility";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { bumpVersion, indexRow, readSession, type SessionRow } from "../sessions/session-row";
import { notRetractedSql, recordRetractions } from "./retractions";
import { commitEvents, prepareEvents } from "./operations";

export function retractEvents(session: SessionContext, body: RetractEventsBody, options: WriteOptions): Promise<WriteResult<RetractResult>> {
	const { expectedVersion: _expected, ...request } = body;
	return session.kernel.write({
		operation: "retract",
		input: request,
		options,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, body.events ?? [], uploads),
		apply: ({ plan, row, now }) => {
			const current = row as SessionRow;
			const intervals = visibleIntervals(session.sql, current.version);
			const tail = tailFrom(session.sql, intervals, body.fromSeq);
			if (body.expectSeqs && (tail.length !== body.expectSeqs.length || tail.some((seq, index) => seq !== body.expectSeqs?.[index]))) {
				return fail("tail_changed", `The events from seq ${body.fromSeq} are no longer the ones expected`, {
					fromSeq: body.fromSeq,
					expected: body.expectSeqs,
					current: tail.slice(0, 1000),
				});
			}
			if (tail.length === 0 && plan.length === 0) return ok({ version: current.version, retracted: 0, appended: null });
			const version = current.version + 1;
			const visible = visibilitySql(intervals);
			const notRetracted = notRetractedSql(intervals);
			recordRetractions(
				session.sql,
				"event",
				{ clause: `SELECT seq AS ref FROM events WHERE seq >= ? AND ${visible.clause} AND ${notRetracted.clause}`, params: [body.fromSeq, ...visible.params, ...notRetracted.params] },
				version,
			);
			// A summary that covers a retracted event would carry it back into the window: it is hidden too.
			const summaries = visibilitySql(intervals);
			const summariesShown = notRetractedSql(intervals, "compactions.id", "summary");
			recordRetractions(
				session.sql,
				"summary",
				{ clause: `SELECT id AS ref FROM compactions WHERE to_seq >= ? AND ${summaries.clause} AND ${summariesShown.clause}`, params: [body.fromSeq, ...summaries.params, ...summariesShown.params] },
				version,
			);
			let appended: AppendResult | null = null;
			let updated: SessionRow;
			if (plan.length > 0) {
				const committed = commitEvents(session.sql, current, plan, now);
				updated = committed.updated;
				appended = {
					version: updated.version,
					firstSeq: committed.firstSeq,
					lastSeq: updated.last_seq,
					events: plan.map((event, index) => ({
						seq: committed.firstSeq + index,
						tokens: event.tokens,
						...(event.content.blob ? { contentRef: { ...event.content.blob, preview: event.content.preview ?? "" } } : {}),
					})),
				};
			} else {
				updated = bumpVersion(session.sql, {}, now);
			}
			refreshContextSize(session.sql, visibleIntervals(session.sql, updated.version));
			// Projected after the context size is recomputed, so the index sees the size this version has.
			project(session.sql, { kind: "write", session: indexRow(readSession(session.sql) as SessionRow) }, now);
			return ok({ version: updated.version, retracted: tail.length, appended });
		},
	});
}

/** The seqs of the events in effect from `fromSeq` on, in order. */
function tailFrom(sql: SqlStorage, intervals: Intervals, fromSeq: number): number[] {
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return sql
		.exec<{ seq: number }>(
			`SELECT seq FROM events WHERE seq >= ? AND ${visible.clause} AND ${notRetracted.clause} ORDER BY seq`,
			fromSeq,
			...visible.params,
			...notRetracted.params,
		)
		.toArray()
		.map((row) => row.seq);
}
