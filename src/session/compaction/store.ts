/**
 * Compaction records. A record is written in the same transaction that turns its events into
 * stubs, after their archive is in R2; which records are in effect at a version follows the
 * same visibility rule as everything else (history.ts).
 */
import { toPage } from "../../paging";
import type { Compaction } from "../../schemas/context";
import type { SummaryData } from "./plan";
import { type Intervals, visibilitySql } from "../history/visibility";
import { notRetractedSql } from "../events/retractions";

export interface CompactionRow {
	id: number;
	version: number;
	from_seq: number;
	to_seq: number;
	archived_count: number;
	summary: string;
	summary_data: string;
	summary_tokens: number;
	before_tokens: number;
	after_tokens: number;
	summarizer: Compaction["summarizer"];
	trigger: Compaction["trigger"];
	archive_key: string | null;
	created_at: number;
}

type Row = CompactionRow & Record<string, SqlStorageValue>;

/** The summary in effect: the latest visible compaction's, unless a retraction hid it (events/retract.ts). */
export function latestVisibleCompaction(sql: SqlStorage, intervals: Intervals): CompactionRow | null {
	const visible = visibilitySql(intervals);
	const shown = notRetractedSql(intervals, "compactions.id", "summary");
	return (
		sql
			.exec<Row>(`SELECT * FROM compactions WHERE ${visible.clause} AND ${shown.clause} ORDER BY version DESC LIMIT 1`, ...visible.params, ...shown.params)
			.toArray()[0] ?? null
	);
}

/** How many events the compactions in effect have moved out of the window. */
export function compactedEventCount(sql: SqlStorage, intervals: Intervals): number {
	const visible = visibilitySql(intervals);
	return sql.exec<{ n: number }>(`SELECT coalesce(sum(archived_count), 0) AS n FROM compactions WHERE ${visible.clause}`, ...visible.params).one().n;
}

export function compactionById(sql: SqlStorage, id: number): CompactionRow | null {
	return sql.exec<Row>("SELECT * FROM compactions WHERE id = ?", id).toArray()[0] ?? null;
}

/** One page of compaction records, oldest first. */
export function listCompactions(sql: SqlStorage, query: { after?: number; limit: number }): { rows: CompactionRow[]; nextAfter: number | null } {
	const rows = sql.exec<Row>("SELECT * FROM compactions WHERE id > ? ORDER BY id LIMIT ?", query.after ?? 0, query.limit + 1).toArray();
	const { page, next } = toPage(rows, query.limit, (row) => row.id);
	return { rows: page, nextAfter: next };
}

export function latestCompactionId(sql: SqlStorage): number {
	return sql.exec<{ id: number | null }>("SELECT max(id) AS id FROM compactions").one().id ?? 0;
}

export function insertCompaction(sql: SqlStorage, row: Omit<CompactionRow, "id">): CompactionRow {
	const inserted = sql
		.exec<Row>(
			`INSERT INTO compactions (version, from_seq, to_seq, archived_count, summary, summary_data, summary_tokens, before_tokens,
				after_tokens, summarizer, trigger, archive_key, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
			row.version,
			row.from_seq,
			row.to_seq,
			row.archived_count,
			row.summary,
			row.summary_data,
			row.summary_tokens,
			row.before_tokens,
			row.after_tokens,
			row.summarizer,
			row.trigger,
			row.archive_key,
			row.created_at,
		)
		.one();
	return inserted;
}

export function summaryDataOf(row: CompactionRow | null): SummaryData | null {
	return row ? (JSON.parse(row.summary_data) as SummaryData) : null;
}

export function toCompaction(row: CompactionRow): Compaction {
	return {
		id: row.id,
		version: row.version,
		fromSeq: row.from_seq,
		toSeq: row.to_seq,
		archivedEvents: row.archived_count,
		beforeTokens: row.before_tokens,
		afterTokens: row.after_tokens,
		ratio: row.before_tokens === 0 ? 1 : Math.round((row.after_tokens / row.before_tokens) * 10_000) / 10_000,
		summarizer: row.summarizer,
		trigger: row.trigger,
		archiveKey: row.archive_key,
		summary: row.summary,
		createdAt: new Date(row.created_at).toISOString(),
	};
}
