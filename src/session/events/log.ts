/**
 * The append-only event log. Invariants: seqs are assigned here, inside the write's
 * transaction, as last_seq + 1, + 2, ... so they are contiguous and never reused; a row is
 * never deleted. Compaction only moves a row's content out to its R2 archive (archived_by
 * names the compaction), leaving the row as a content-free stub.
 */
import { insertRow as insertColumns } from "../kernel/rows";
import type { Json } from "../../schemas/common";
import { toPage } from "../../paging";
import type { Event, EventType, RecordedEvent } from "../../schemas/events";
import type { PlacedValue } from "../content/placement";
import { type Intervals, isVisible, visibilitySql } from "../history/visibility";
import { indexBeforeStripping } from "../search/catch-up";
import { notRetractedSql } from "./retractions";

export interface EventRow {
	seq: number;
	version: number;
	type: EventType;
	role: string | null;
	name: string | null;
	tool_call_id: string | null;
	content: string | null;
	blob_sha256: string | null;
	blob_bytes: number | null;
	preview: string | null;
	metadata: string | null;
	pinned: number;
	usage: string | null;
	tokens: number;
	preview_tokens: number | null;
	archived_by: number | null;
	/** The retention segment holding its content (content is then NULL here); see retention/archive.ts. */
	segment_id: number | null;
	created_at: number;
}

type Row = EventRow & Record<string, SqlStorageValue>;

const COLUMNS = `seq, version, type, role, name, tool_call_id, content, blob_sha256, blob_bytes, preview, metadata,
	pinned, usage, tokens, preview_tokens, archived_by, segment_id, created_at`;

export interface PreparedEvent {
	input: RecordedEvent;
	content: PlacedValue;
	/** Tokens of the full content. */
	tokens: number;
	/** Tokens of the preview, for content kept in R2 (what a window shows of it). */
	previewTokens: number | null;
}

/** What the D1 index keeps of an event: enough to find it, not its content. */
export interface EventIndexRow {
	seq: number;
	type: EventType;
	role: string | null;
	name: string | null;
	tokens: number;
	createdAt: number;
}

/** The one INSERT of the log: new events and events copied into a fork both come through it. */
function insertRow(sql: SqlStorage, row: Omit<EventRow, "archived_by" | "segment_id">, tokensCumulative: number): void {
	sql.exec(
		`INSERT INTO events (seq, version, type, role, name, tool_call_id, content, blob_sha256, blob_bytes, preview,
			metadata, pinned, usage, tokens, preview_tokens, tokens_cumulative, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.seq,
		row.version,
		row.type,
		row.role,
		row.name,
		row.tool_call_id,
		row.content,
		row.blob_sha256,
		row.blob_bytes,
		row.preview,
		row.metadata,
		row.pinned,
		row.usage,
		row.tokens,
		row.preview_tokens,
		tokensCumulative,
		row.created_at,
	);
}

export function insertEvents(
	sql: SqlStorage,
	events: PreparedEvent[],
	start: { seq: number; version: number; tokensTotal: number },
	now: number,
): void {
	let cumulative = start.tokensTotal;
	events.forEach(({ input, content, tokens, previewTokens }, index) => {
		const seq = start.seq + index;
		cumulative += tokens;
		insertRow(
			sql,
			{
				seq,
				version: start.version,
				type: input.type,
				role: input.role ?? null,
				name: input.name ?? null,
				tool_call_id: input.toolCallId ?? null,
				content: content.inline,
				blob_sha256: content.blob?.sha256 ?? null,
				blob_bytes: content.blob?.bytes ?? null,
				preview: content.preview,
				metadata: input.metadata ? JSON.stringify(input.metadata) : null,
				pinned: input.pinned ? 1 : 0,
				usage: input.usage ? JSON.stringify(input.usage) : null,
				tokens,
				preview_tokens: previewTokens,
				created_at: now,
			},
			cumulative,
		);
	});
}

/** One page of the log after `after`, in seq order; compacted stubs only when asked for. */
export function readEventRows(
	sql: SqlStorage,
	query: { after: number; limit: number; types?: EventType[]; includeArchived: boolean },
	/** Leave out what a retraction hides at these intervals; null keeps retracted events (marked by the caller). */
	hideRetracted: Intervals | null,
): { rows: EventRow[]; nextAfter: number | null } {
	const typeFilter = query.types?.length ? `AND type IN (${query.types.map(() => "?").join(",")})` : "";
	const hotFilter = query.includeArchived ? "" : "AND archived_by IS NULL";
	const retracted = hideRetracted ? notRetractedSql(hideRetracted) : { clause: "1", params: [] };
	const rows = sql
		.exec<Row>(
			`SELECT ${COLUMNS} FROM events WHERE seq > ? ${hotFilter} ${typeFilter} AND ${retracted.clause} ORDER BY seq LIMIT ?`,
			query.after,
			...(query.types ?? []),
			...retracted.params,
			query.limit + 1,
		)
		.toArray();
	const { page, next } = toPage(rows, query.limit, (row) => row.seq);
	return { rows: page, nextAfter: next };
}

/**
 * Candidates for the newest part of the current window, newest first and lazily: hot,
 * unpinned, visible events. The scan stops as soon as the caller stops pulling, so its cost
 * follows the budget, not the session's length.
 */
export function* hotEventsNewestFirst(sql: SqlStorage, intervals: Intervals, types?: EventType[]): Generator<EventRow> {
	const typeFilter = types?.length ? `AND type IN (${types.map(() => "?").join(",")})` : "";
	const notRetracted = notRetractedSql(intervals);
	const cursor = sql.exec<Row>(
		`SELECT ${COLUMNS} FROM events WHERE archived_by IS NULL AND pinned = 0 ${typeFilter} AND ${notRetracted.clause} ORDER BY seq DESC`,
		...(types ?? []),
		...notRetracted.params,
	);
	for (const row of cursor) if (isVisible(intervals, row.version)) yield row;
}

/**
 * The same candidates as they were at an earlier version: events visible then, minus those
 * compacted by a compaction visible then. Their content may since have moved to an archive.
 */
export function* eventsNewestFirstAt(sql: SqlStorage, intervals: Intervals, types?: EventType[]): Generator<EventRow> {
	const typeFilter = types?.length ? `AND type IN (${types.map(() => "?").join(",")})` : "";
	// Starting the scan at the last seq of that version keeps its cost on the budget, not on
	// how much was written since.
	const throughSeq = lastSeqAt(sql, intervals[0]?.[1] ?? 0);
	const visibleEvents = visibilitySql(intervals, "events.version");
	const notRetracted = notRetractedSql(intervals, "events.seq");
	const visibleCompactions = visibilitySql(intervals, "compactions.version");
	const cursor = sql.exec<Row>(
		`SELECT ${COLUMNS} FROM events WHERE seq <= ? AND pinned = 0 AND ${visibleEvents.clause} AND ${notRetracted.clause} ${typeFilter}
		   AND NOT EXISTS (
			SELECT 1 FROM archived_events WHERE archived_events.seq = events.seq
			  AND archived_events.compaction_id IN (SELECT id FROM compactions WHERE ${visibleCompactions.clause}))
		 ORDER BY seq DESC`,
		throughSeq,
		...visibleEvents.params,
		...notRetracted.params,
		...(types ?? []),
		...visibleCompactions.params,
	);
	yield* cursor;
}

/**
 * The highest seq written at or before `version`. Seqs and versions grow together, so a binary
 * search over the seq key finds it in a few lookups, with no index on version to maintain.
 */
export function lastSeqAt(sql: SqlStorage, version: number): number {
	const versionFrom = (seq: number) =>
		sql.exec<{ seq: number; version: number }>("SELECT seq, version FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", seq).toArray()[0];
	let low = 0;
	let high = sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM events").one().seq ?? 0;
	while (low < high) {
		const middle = Math.ceil((low + high) / 2);
		const row = versionFrom(middle);
		if (row && row.version <= version) low = row.seq;
		else high = middle - 1;
	}
	return low;
}

/** Pinned events visible at the given intervals, oldest first; pinned events are never compacted. */
export function pinnedEvents(sql: SqlStorage, intervals: Intervals, types?: EventType[]): EventRow[] {
	return [...pinnedEventsOldestFirst(sql, intervals, types)];
}

/** The same through a cursor, for a layer that stops pulling at its share of the budget. */
export function* pinnedEventsOldestFirst(sql: SqlStorage, intervals: Intervals, types?: EventType[]): Generator<EventRow> {
	const pinned = pinnedEventsWhere(intervals, types);
	yield* sql.exec<Row>(`SELECT ${COLUMNS} FROM events WHERE ${pinned.clause} ORDER BY seq`, ...pinned.params);
}

/** Pinned events counted up to a limit, so counting what a layer left out reads no more rows than that. */
export function pinnedEventCountUpTo(sql: SqlStorage, intervals: Intervals, limit: number): number {
	const pinned = pinnedEventsWhere(intervals);
	return sql.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE ${pinned.clause} LIMIT ?)`, ...pinned.params, limit).one().n;
}

function pinnedEventsWhere(intervals: Intervals, types?: EventType[]): { clause: string; params: Array<string | number> } {
	const typeFilter = types?.length ? `AND type IN (${types.map(() => "?").join(",")})` : "";
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return {
		clause: `pinned = 1 AND ${visible.clause} AND ${notRetracted.clause} ${typeFilter}`,
		params: [...visible.params, ...notRetracted.params, ...(types ?? [])],
	};
}

/** Tokens an event takes in a window: its preview's when its content is in R2. */
export function windowTokens(row: EventRow): number {
	return row.blob_sha256 ? (row.preview_tokens ?? 0) : row.tokens;
}

/**
 * Whether the row's content is in R2 rather than here: compacted (its compaction's archive) or
 * moved out by retention (its segment). Read it with loadArchived (context/window.ts).
 */
export function isStub(row: EventRow): boolean {
	return row.archived_by !== null || row.segment_id !== null;
}


export function toEvent(row: EventRow): Event {
	const event: Event = {
		seq: row.seq,
		version: row.version,
		type: row.type,
		tokens: row.tokens,
		createdAt: new Date(row.created_at).toISOString(),
	};
	if (row.role) event.role = row.role as Event["role"];
	if (row.name) event.name = row.name;
	if (row.tool_call_id) event.toolCallId = row.tool_call_id;
	if (row.content !== null) event.content = JSON.parse(row.content);
	if (row.blob_sha256) {
		event.contentRef = { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" };
	}
	if (row.metadata) event.metadata = JSON.parse(row.metadata) as Record<string, Json>;
	if (row.pinned) event.pinned = true;
	if (row.usage) event.usage = JSON.parse(row.usage) as Event["usage"];
	return event;
}

/** Fills a compacted stub back from its archived view (used by restore). */
export function rehydrate(sql: SqlStorage, event: Event): void {
	sql.exec(
		`UPDATE events SET content = ?, blob_sha256 = ?, blob_bytes = ?, preview = ?, metadata = ?, archived_by = NULL, segment_id = NULL
		 WHERE seq = ?`,
		event.content === undefined ? null : JSON.stringify(event.content),
		event.contentRef?.sha256 ?? null,
		event.contentRef?.bytes ?? null,
		event.contentRef?.preview ?? null,
		event.metadata ? JSON.stringify(event.metadata) : null,
		event.seq,
	);
}

/** Moves content out of hot storage once it is safely archived: the row stays as a stub. */
export function markArchived(sql: SqlStorage, seqs: number[], compactionId: number): void {
	for (const seq of seqs) {
		// The hash and size stay: a stub still knows what its content weighs in a window.
		stripContent(sql, seq, { content: null, preview: null, metadata: null, archived_by: compactionId });
		sql.exec("INSERT INTO archived_events (seq, compaction_id) VALUES (?, ?)", seq, compactionId);
	}
}

/**
 * Rewrites an event row without (some of) its content. Not an UPDATE: SQLite leaves a page
 * that an UPDATE shrank as large as it was, and new events go to the end of the table, so
 * the freed space would never be used again (measured: an UPDATE to NULL of 100 rows of 2 KB
 * frees nothing). Deleting the row and inserting it again lets SQLite merge the page.
 */
export function stripContent(sql: SqlStorage, seq: number, changes: Partial<Record<keyof EventRow, SqlStorageValue>>): void {
	const row = sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM events WHERE seq = ?", seq).toArray()[0];
	if (!row) return;
	indexBeforeStripping(sql, seq);
	sql.exec("DELETE FROM events WHERE seq = ?", seq);
	insertColumns(sql, "events", { ...row, ...changes } as Record<string, SqlStorageValue>);
}

/** A copied event: its view plus the token counts the view does not carry. */
export interface CopiedEvent {
	event: Event;
	tokens: number;
	previewTokens: number | null;
}

export function toCopiedEvent(row: EventRow, event: Event = toEvent(row)): CopiedEvent {
	return { event, tokens: row.tokens, previewTokens: row.preview_tokens };
}

/** Inserts events copied from another session (a fork), keeping their seqs. */
export function insertCopiedEvents(sql: SqlStorage, events: CopiedEvent[], version: number): void {
	let cumulative = 0;
	for (const { event, tokens, previewTokens } of events) {
		cumulative += tokens;
		insertRow(
			sql,
			{
				seq: event.seq,
				version,
				type: event.type,
				role: event.role ?? null,
				name: event.name ?? null,
				tool_call_id: event.toolCallId ?? null,
				content: event.content === undefined ? null : JSON.stringify(event.content),
				blob_sha256: event.contentRef?.sha256 ?? null,
				blob_bytes: event.contentRef?.bytes ?? null,
				preview: event.contentRef?.preview ?? null,
				metadata: event.metadata ? JSON.stringify(event.metadata) : null,
				pinned: event.pinned ? 1 : 0,
				usage: event.usage ? JSON.stringify(event.usage) : null,
				tokens,
				preview_tokens: previewTokens,
				created_at: Date.parse(event.createdAt),
			},
			cumulative,
		);
	}
}
