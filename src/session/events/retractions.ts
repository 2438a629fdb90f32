/**
 * The retractions table: which events (and compaction summaries) a retraction hid, and at which
 * version. A retraction is a write like any other, in effect wherever its version is visible:
 * one row per (what, version), so a retraction that a restore undid and a later one of the
 * same event are both remembered, and `at=V` sees exactly those in effect at V.
 */
import { type Intervals, visibilitySql } from "../history/visibility";

export const RETRACTIONS_TABLE = `CREATE TABLE IF NOT EXISTS retractions (
	kind TEXT NOT NULL,
	ref INTEGER NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (kind, ref, version)
) WITHOUT ROWID`;

type Kind = "event" | "summary";

/** SQL true for the rows of `refColumn` no retraction in effect at these intervals hides. */
export function notRetractedSql(intervals: Intervals, refColumn = "seq", kind: Kind = "event"): { clause: string; params: Array<string | number> } {
	const visible = visibilitySql(intervals, "retractions.version");
	return {
		clause: `NOT EXISTS (SELECT 1 FROM retractions WHERE retractions.kind = ? AND retractions.ref = ${refColumn} AND ${visible.clause})`,
		params: [kind, ...visible.params],
	};
}

/** Which of these event seqs a retraction in effect hides (for marking a page of the log). */
export function retractedSeqs(sql: SqlStorage, intervals: Intervals, seqs: number[]): Set<number> {
	if (seqs.length === 0) return new Set();
	const visible = visibilitySql(intervals, "version");
	return new Set(
		sql
			.exec<{ ref: number }>(
				`SELECT DISTINCT ref FROM retractions WHERE kind = 'event' AND ref IN (SELECT value FROM json_each(?)) AND ${visible.clause}`,
				JSON.stringify(seqs),
				...visible.params,
			)
			.toArray()
			.map((row) => row.ref),
	);
}

/** Records that `version` hides these (inside the retracting write's transaction). */
export function recordRetractions(sql: SqlStorage, kind: Kind, refsSql: { clause: string; params: Array<string | number> }, version: number): void {
	sql.exec(`INSERT OR IGNORE INTO retractions (kind, ref, version) SELECT ?, ref, ? FROM (${refsSql.clause})`, kind, version, ...refsSql.params);
}

/** The latest retraction's version: a plan that read the log before it must be made again. */
export function latestRetraction(sql: SqlStorage): number {
	return sql.exec<{ v: number | null }>("SELECT max(version) AS v FROM retractions").one().v ?? 0;
}

/**
 * Hides the events in effect that `seqs` names (anywhere in the log, not only a tail) as of
 * `version`, and the summaries in effect covering any of them, since a summary would carry them
 * back into the window. Returns how many events it hid. Inside the retracting write's transaction.
 */
export function retractSeqs(sql: SqlStorage, intervals: Intervals, seqs: { clause: string; params: Array<string | number> }, version: number): number {
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	const hidden = sql
		.exec<{ seq: number }>(`SELECT seq FROM events WHERE seq IN (${seqs.clause}) AND ${visible.clause} AND ${notRetracted.clause}`, ...seqs.params, ...visible.params, ...notRetracted.params)
		.toArray()
		.map((row) => row.seq);
	if (hidden.length === 0) return 0;
	const list = JSON.stringify(hidden);
	recordRetractions(sql, "event", { clause: "SELECT value AS ref FROM json_each(?)", params: [list] }, version);
	const summaries = visibilitySql(intervals);
	const shown = notRetractedSql(intervals, "compactions.id", "summary");
	recordRetractions(
		sql,
		"summary",
		{
			clause: `SELECT id AS ref FROM compactions WHERE EXISTS (SELECT 1 FROM json_each(?) WHERE value BETWEEN compactions.from_seq AND compactions.to_seq) AND ${summaries.clause} AND ${shown.clause}`,
			params: [list, ...summaries.params, ...shown.params],
		},
		version,
	);
	return hidden.length;
}
