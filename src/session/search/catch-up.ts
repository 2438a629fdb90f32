/**
 * Events reach the session's search index when it is next needed, not when they are appended:
 * a session nobody searches never pays for the index (an FTS5 row is one more billed row on
 * every append, measured by bench:peer). Everything that reads the index, or takes away the text
 * it would be built from, calls indexNewEvents first in its own transaction; the mark says how
 * far the log is indexed. State keys are still indexed by their triggers (capability.ts).
 */
import { EVENT_TEXT } from "./capability";

/** Indexes the events appended since the last catch-up; call in a transaction. Cheap when none are. */
export function indexNewEvents(sql: SqlStorage): void {
	const mark = indexedThrough(sql);
	const last = sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM events").one().seq ?? 0;
	if (last <= mark) return;
	// An event may be indexed already: rehydrated by a restore (a trigger), or imported as a stub
	// with its archived view (feed.ts).
	sql.exec(
		`INSERT INTO search_index (rowid, body, kind, type)
		 SELECT seq, ${EVENT_TEXT("events")}, 'event', type FROM events
		 WHERE seq > ? AND (content IS NOT NULL OR preview IS NOT NULL)
		   AND NOT EXISTS (SELECT 1 FROM search_index WHERE search_index.rowid = events.seq)`,
		mark,
	);
	sql.exec("UPDATE search_progress SET indexed_seq = ?", last);
}

/** Indexes the event before its text leaves the row (compaction, archiving): the text stays searchable. */
export function indexBeforeStripping(sql: SqlStorage, seq: number): void {
	if (seq > indexedThrough(sql)) indexNewEvents(sql);
}

function indexedThrough(sql: SqlStorage): number {
	return sql.exec<{ indexed_seq: number }>("SELECT indexed_seq FROM search_progress").toArray()[0]?.indexed_seq ?? 0;
}
