/** Appending to and paging through the event log. */
import { scheduleArchiving } from "../retention/archive";
import { ok, type Result } from "../../errors";
import type { AppendEventsBody, AppendResult, Event, EventPage, ListEventsQuery, RecordedEvent } from "../../schemas/events";
import { scheduleCompaction } from "../compaction/compactor";
import { mapBounded, type PlacedValue, placeValue } from "../content/placement";
import { countTokens, type Encoding } from "../content/tokens";
import { loadArchived } from "../context/window";
import { isVisible, visibleIntervals } from "../history/visibility";
import type { SessionContext } from "../kernel/session-context";
import type { WriteUploads } from "../kernel/uploads";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { scheduleProjection } from "../projection/outbox";
import { bumpVersion, encodingOf, indexRow, inlineLimitOf, readSession, recordReportedUsage, type SessionRow } from "../sessions/session-row";
import { insertEvents, isStub, type PreparedEvent, readEventRows, toEvent } from "./log";
import { retractedSeqs } from "./retractions";

/** Large contents of one append uploaded at once, at most. */
const PARALLEL_UPLOADS = 4;

/**
 * Appends events atomically: all get consecutive seqs under one new version, or none is
 * written. Large content is uploaded to R2 before the commit that references it.
 */
export function appendEvents(session: SessionContext, body: AppendEventsBody, options: WriteOptions): Promise<WriteResult<AppendResult>> {
	return session.kernel.write({
		operation: "append",
		input: body.events,
		options,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, body.events, uploads),
		apply: ({ plan: prepared, row, now }) => {
			const { updated, firstSeq } = commitEvents(session.sql, row as SessionRow, prepared, now);
			return ok({
				version: updated.version,
				firstSeq,
				lastSeq: updated.last_seq,
				events: prepared.map((event, index) => ({ seq: firstSeq + index, tokens: event.tokens, ...refOf(event.content) })),
			});
		},
	});
}

/** Places each event's content (R2 when large) and counts its tokens, before the commit. */
export function prepareEvents(session: SessionContext, row: SessionRow, inputs: RecordedEvent[], uploads: WriteUploads): Promise<PreparedEvent[]> {
	return prepareEventsWith({ limit: inlineLimitOf(row, session.config.inlineLimitBytes), encoding: encodingOf(row) }, inputs, uploads);
}

/** The same for a session that does not exist yet: its inline limit and encoding are given. */
export function prepareEventsWith({ limit, encoding }: { limit: number; encoding: Encoding }, inputs: RecordedEvent[], uploads: WriteUploads): Promise<PreparedEvent[]> {
	return mapBounded(inputs, PARALLEL_UPLOADS, async (input): Promise<PreparedEvent> => {
		const content = await placeValue(input.content, limit, uploads);
		return {
			input,
			content,
			tokens: await countTokens(content.text, encoding),
			previewTokens: content.preview === null ? null : await countTokens(content.preview, encoding),
		};
	});
}

/**
 * Appends prepared events as the next seqs under one new session version, with the counters,
 * the compaction check and the projection; call inside the kernel's transaction. Other
 * capabilities that record events with their own change (a failed step, an escalation) use it
 * too, so a change and its events are one version.
 */
export function commitEvents(sql: SqlStorage, current: SessionRow, prepared: PreparedEvent[], now: number): { updated: SessionRow; firstSeq: number } {
	const version = current.version + 1;
	const firstSeq = current.last_seq + 1;
	insertEvents(sql, prepared, { seq: firstSeq, version, tokensTotal: current.tokens_total }, now);
	const tokens = prepared.reduce((sum, event) => sum + event.tokens, 0);
	const contextTokens = prepared.reduce((sum, event) => sum + (event.previewTokens ?? event.tokens), 0);
	let updated = bumpVersion(sql, { lastSeq: firstSeq + prepared.length - 1, events: prepared.length, tokens, contextTokens }, now);
	const reported = prepared.findLast((event) => event.input.usage?.inputTokens !== undefined)?.input.usage?.inputTokens;
	if (reported !== undefined) {
		recordReportedUsage(sql, reported);
		updated = readSession(sql) as SessionRow;
	}
	scheduleCompaction(sql, updated, prepared.map((event) => event.input.type), now);
	scheduleArchiving(sql, updated, now);
	// The drain finds the new events past its mark (projection/appended.ts), with the session row.
	scheduleProjection(sql, now);
	return { updated, firstSeq };
}

/**
 * Writes prepared events as the first of a session being created, under its first version (a
 * create is one write: its seed does not bump the version); call inside the create's transaction.
 */
export function seedEvents(sql: SqlStorage, prepared: PreparedEvent[], now: number): void {
	insertEvents(sql, prepared, { seq: 1, version: 1, tokensTotal: 0 }, now);
	sql.exec(
		"UPDATE session SET last_seq = ?, event_count = ?, tokens_total = ?, context_tokens = ?",
		prepared.length,
		prepared.length,
		prepared.reduce((sum, event) => sum + event.tokens, 0),
		prepared.reduce((sum, event) => sum + (event.previewTokens ?? event.tokens), 0),
	);
}

/**
 * A page of the log in seq order. Compacted events come back from their R2 archives, in
 * place, when asked for; events a restore rewound are marked; retracted ones are left out
 * unless asked for (then marked).
 */
export function listEvents(session: SessionContext, query: ListEventsQuery): Promise<Result<EventPage>> {
	return session.kernel.read(async (row) => {
		const intervals = visibleIntervals(session.sql, row.version);
		const page = readEventRows(session.sql, query, query.includeRetracted ? null : intervals);
		const retracted = query.includeRetracted ? retractedSeqs(session.sql, intervals, page.rows.map((eventRow) => eventRow.seq)) : new Set<number>();
		const archived = await loadArchived(session.sql, session.dependencies.blobs, page.rows.filter(isStub));
		const events = page.rows.map((eventRow) => {
			let event: Event = isStub(eventRow) ? { ...(archived.get(eventRow.seq) ?? toEvent(eventRow)), archived: true } : toEvent(eventRow);
			if (!isVisible(intervals, eventRow.version)) event = { ...event, rewound: true };
			return retracted.has(eventRow.seq) ? { ...event, retracted: true } : event;
		});
		return ok({ events, nextAfter: page.nextAfter });
	});
}

function refOf(content: PlacedValue): { contentRef?: { sha256: string; bytes: number; preview: string } } {
	return content.blob ? { contentRef: { ...content.blob, preview: content.preview ?? "" } } : {};
}
