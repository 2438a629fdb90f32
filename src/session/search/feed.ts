/**
 * What of the session's search index goes to D1 for cross-session search: the first 2 KB of
 * each event's indexed text (one definition of an event's text, EVENT_TEXT), carried to D1 with
 * the event (projection/appended.ts).
 */
import type { EventTextRow } from "../../db/projection";
import type { Event, EventType } from "../../schemas/events";
import { EVENT_TEXT } from "./capability";

/** Bytes of an event's text the cross-session index keeps: enough to find it, bounded for D1. */
export const CROSS_SESSION_TEXT_BYTES = 2048;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The searchable events with seqs in [fromSeq, toSeq], their text cut to CROSS_SESSION_TEXT_BYTES:
 * as the session's index has it, or, for events it has not indexed yet (catch-up.ts), as it will.
 */
export function eventTexts(sql: SqlStorage, fromSeq: number, toSeq: number): EventTextRow[] {
	return sql
		.exec<{ seq: number; type: string; created_at: number; body: string }>(
			`SELECT seq, type, created_at, body FROM (
				SELECT events.seq AS seq, events.type AS type, events.created_at AS created_at,
					coalesce(
						(SELECT search_index.body FROM search_index WHERE search_index.rowid = events.seq),
						CASE WHEN events.content IS NOT NULL OR events.preview IS NOT NULL THEN ${EVENT_TEXT("events")} END
					) AS body
				FROM events WHERE events.seq BETWEEN ? AND ?
			 ) WHERE body IS NOT NULL ORDER BY seq`,
			fromSeq,
			toSeq,
		)
		.toArray()
		.map((row) => ({ seq: row.seq, type: row.type as EventType, text: cut(row.body), createdAt: row.created_at }));
}

/**
 * Indexes an event whose content is in R2 from its archived view (an import brings compacted
 * events as stubs, with their view beside them), with the text the triggers would have made.
 */
export function indexArchivedView(sql: SqlStorage, view: Event): void {
	sql.exec(
		`INSERT INTO search_index (rowid, body, kind, type)
		 SELECT view.seq, ${EVENT_TEXT("view")}, 'event', view.type FROM (SELECT ? AS seq, ? AS type, ? AS name, ? AS content, ? AS preview) AS view
		 WHERE view.content IS NOT NULL OR view.preview IS NOT NULL`,
		view.seq,
		view.type,
		view.name ?? null,
		view.content === undefined ? null : JSON.stringify(view.content),
		view.contentRef?.preview ?? null,
	);
}

/** The longest start of the text that fits the bytes, never splitting a character. */
function cut(text: string): string {
	const bytes = encoder.encode(text);
	if (bytes.length <= CROSS_SESSION_TEXT_BYTES) return text;
	return decoder.decode(bytes.subarray(0, CROSS_SESSION_TEXT_BYTES)).replace(/\uFFFD+$/, "");
}
