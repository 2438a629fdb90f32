/**
 * Runs a compaction planned by plan.ts, crash-safely and idempotently, as a write-kernel write:
 *   1. prepare (async): plan from the current rows, count the summary's tokens, write the
 *      archive (JSONL + markdown) to R2 under a name fixed by the plan;
 *   2. apply (one synchronous transaction): record the compaction, turn the archived events
 *      into stubs, bump the version.
 * The plan rests on compactionBasis(), captured before its first await: if another
 * compaction or a restore commits meanwhile, the kernel refuses the stale plan and re-plans.
 * A crash between 1 and 2 leaves an orphan archive that the re-run overwrites with the same
 * bytes.
 */
import { loadArchived } from "../context/window";
import type { BlobStore } from "../../blobs/blob-store";
import type { Compaction } from "../../schemas/context";
import type { EventType } from "../../schemas/events";
import { type CompactionPolicy, overTokenShare, planCompaction, resolvePolicy, shrinkPlan } from "./plan";
import { type CompactionRow, insertCompaction, latestCompactionId, latestVisibleCompaction, summaryDataOf } from "./store";
import { type Intervals, isVisible, visibilitySql, visibleIntervals } from "../history/visibility";
import * as timers from "../kernel/timers";
import type { WriteUploads } from "../kernel/uploads";
import { type EventRow, markArchived, toEvent, windowTokens } from "../events/log";
import { latestRetraction, notRetractedSql } from "../events/retractions";
import { bumpVersion, contextSize, readSession, type SessionRow, sessionPolicy } from "../sessions/session-row";
import { countTokens, DEFAULT_ENCODING } from "../content/tokens";

const encoder = new TextEncoder();

/**
 * Events one compaction reads at most (inline content is at most 16 KiB each, so this bounds
 * the memory a run needs well under the isolate's 128 MB); a longer backlog takes more runs.
 */
const MAX_EVENTS_PER_COMPACTION = 1000;

export const COMPACT_TIMER = "compact";

export type Trigger = Compaction["trigger"];

export interface PreparedCompaction {
	archive: EventRow[];
	fromSeq: number;
	toSeq: number;
	text: string;
	data: string;
	summaryTokens: number;
	archiveKey: string;
	archiveBytes: number;
	summarizer: Compaction["summarizer"];
	/** Whether older compactable events remain beyond this batch. */
	truncated: boolean;
}

function latestRestoreVersion(sql: SqlStorage): number {
	return sql.exec<{ version: number | null }>("SELECT max(version) AS version FROM restores").one().version ?? 0;
}

function hotEventsOldestFirst(sql: SqlStorage, intervals: Intervals, throughSeq: number): EventRow[] {
	// Visibility is decided before the LIMIT: rows a restore rewound or a retraction hid are never
	// archived, so filtering them after it would let them fill every batch and stall compaction.
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return sql
		.exec<EventRow & Record<string, SqlStorageValue>>(
			`SELECT * FROM events WHERE archived_by IS NULL AND seq <= ? AND ${visible.clause} AND ${notRetracted.clause} ORDER BY seq LIMIT ?`,
			throughSeq,
			...visible.params,
			...notRetracted.params,
			MAX_EVENTS_PER_COMPACTION + 1,
		)
		.toArray();
}

/**
 * Events retention moved to R2 segments have no content here: a summary and an archive need
 * it, so it is read back first (the rows themselves are not changed).
 */
async function withSegmentContent(sql: SqlStorage, blobs: BlobStore, rows: EventRow[]): Promise<EventRow[]> {
	const segmented = rows.filter((row) => row.segment_id !== null);
	if (segmented.length === 0) return rows;
	const views = await loadArchived(sql, blobs, segmented);
	return rows.map((row) => {
		const view = row.segment_id === null ? undefined : views.get(row.seq);
		if (!view) return row;
		return { ...row, content: view.content === undefined ? null : JSON.stringify(view.content), metadata: view.metadata ? JSON.stringify(view.metadata) : null };
	});
}

export function transcript(events: EventRow[]): string {
	return events
		.map((row) => {
			const event = toEvent(row);
			const who = [event.type, event.role, event.name].filter(Boolean).join(" · ");
			const body = event.contentRef ? `(${event.contentRef.bytes} bytes in R2, sha256 ${event.contentRef.sha256})\n\n${event.contentRef.preview}` : typeof event.content === "string" ? event.content : `\`\`\`json\n${JSON.stringify(event.content, null, 2)}\n\`\`\``;
			return `### #${event.seq} ${who} (${event.createdAt})\n\n${body}\n`;
		})
		.join("\n");
}

/** Plans a compaction and archives what it will remove; null when there is nothing to compact. */
export async function prepareCompaction(
	sql: SqlStorage,
	blobs: BlobStore,
	uploads: WriteUploads,
	row: SessionRow,
	options: { upToSeq?: number; agentSummary?: string },
): Promise<PreparedCompaction | null> {
	const policy = resolvePolicy(sessionPolicy(row));
	const intervals = visibleIntervals(sql, row.version);
	const candidates = await withSegmentContent(sql, blobs, hotEventsOldestFirst(sql, intervals, Math.min(options.upToSeq ?? row.last_seq, row.last_seq)));
	const truncated = candidates.length > MAX_EVENTS_PER_COMPACTION;
	const planned = planCompaction({
		events: candidates.slice(0, MAX_EVENTS_PER_COMPACTION),
		policy,
		lastSeq: row.last_seq,
		upToSeq: options.upToSeq,
		previous: summaryDataOf(latestVisibleCompaction(sql, intervals)),
		agentSummary: options.agentSummary,
	});
	if (!planned) return null;
	// A summary should replace much more than it adds: shrink it (newest entries kept) until it
	// takes at most half of the tokens it stands for, or its sections are down to one entry.
	const encoding = sessionPolicy(row).tokenizer ?? DEFAULT_ENCODING;
	const previousSummary = latestVisibleCompaction(sql, intervals)?.summary_tokens ?? 0;
	const target = Math.floor((planned.archive.reduce((sum, event) => sum + windowTokens(event), 0) + previousSummary) / 2);
	let plan = planned;
	let summaryTokens = await countTokens(plan.text, encoding);
	for (let factor = 0.5; summaryTokens > target && factor >= 1 / 64 && !options.agentSummary; factor /= 2) {
		plan = shrinkPlan(planned, factor);
		summaryTokens = await countTokens(plan.text, encoding);
	}
	const jsonl = `${plan.archive.map((event) => JSON.stringify(toEvent(event))).join("\n")}\n`;
	const markdown = `# Session ${row.id}: events ${plan.fromSeq}–${plan.toSeq}\n\n${transcript(plan.archive)}`;
	const archiveKey = await uploads.putArchive(`${plan.fromSeq}-${plan.toSeq}.at-v${row.version}`, jsonl, markdown);
	const archiveBytes = encoder.encode(jsonl).byteLength + encoder.encode(markdown).byteLength;
	return {
		archive: plan.archive,
		fromSeq: plan.fromSeq,
		toSeq: plan.toSeq,
		text: plan.text,
		data: JSON.stringify(plan.data),
		summaryTokens,
		archiveKey,
		archiveBytes,
		summarizer: options.agentSummary ? "agent" : "deterministic",
		truncated,
	};
}

/**
 * What a compaction or restore plan rests on: which compactions, restores and retractions are committed.
 * Appends and state writes do not move it (a plan never archives what it did not read).
 */
export function compactionBasis(sql: SqlStorage): { compaction: number; restore: number; retraction: number } {
	return { compaction: latestCompactionId(sql), restore: latestRestoreVersion(sql), retraction: latestRetraction(sql) };
}

/** Commits a prepared compaction; call inside the kernel's transaction. */
export function applyCompaction(sql: SqlStorage, prepared: PreparedCompaction, trigger: Trigger, now: number): { compaction: CompactionRow; session: SessionRow } {
	const before = sql.exec<{ context_tokens: number; summary_tokens: number }>("SELECT context_tokens, summary_tokens FROM session").one();
	const archivedTokens = prepared.archive.reduce((sum, event) => sum + windowTokens(event), 0);
	const beforeTokens = before.context_tokens + before.summary_tokens;
	const updated = bumpVersion(sql, { contextTokens: -archivedTokens }, now);
	const compaction = insertCompaction(sql, {
		version: updated.version,
		from_seq: prepared.fromSeq,
		to_seq: prepared.toSeq,
		archived_count: prepared.archive.length,
		summary: prepared.text,
		summary_data: prepared.data,
		summary_tokens: prepared.summaryTokens,
		before_tokens: beforeTokens,
		after_tokens: beforeTokens - archivedTokens - before.summary_tokens + prepared.summaryTokens,
		summarizer: prepared.summarizer,
		trigger,
		archive_key: prepared.archiveKey,
		created_at: now,
	});
	sql.exec("UPDATE compactions SET archive_bytes = ? WHERE id = ?", prepared.archiveBytes, compaction.id);
	markArchived(
		sql,
		prepared.archive.map((event) => event.seq),
		compaction.id,
	);
	sql.exec(
		"UPDATE session SET summary_tokens = ?, last_compaction_at = ?, reported_input_tokens = NULL, reported_at_context = NULL",
		prepared.summaryTokens,
		now,
	);
	if (prepared.truncated) timers.schedule(sql, COMPACT_TIMER, "", now);
	return { compaction, session: readSession(sql) as SessionRow };
}

/** Why the session should be compacted now, if it should. */
export function compactionTrigger(sql: SqlStorage, row: SessionRow, now: number): Trigger | null {
	const policy = resolvePolicy(sessionPolicy(row));
	if (overTokenShare(contextSize(row), policy)) return "token_share";
	if (policy.milestoneTypes.length > 0 && hasMilestoneSinceCompaction(sql, row, policy)) return "milestone";
	if (policy.compactAfterSeconds !== null && now >= elapsedDueAt(row, policy)) return "elapsed";
	return null;
}

function elapsedDueAt(row: SessionRow, policy: CompactionPolicy): number {
	return (row.last_compaction_at ?? row.created_at) + (policy.compactAfterSeconds ?? 0) * 1000;
}

function hasMilestoneSinceCompaction(sql: SqlStorage, row: SessionRow, policy: CompactionPolicy): boolean {
	const intervals = visibleIntervals(sql, row.version);
	const since = latestVisibleCompaction(sql, intervals)?.to_seq ?? 0;
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return (
		sql
			.exec(
				`SELECT 1 FROM events WHERE archived_by IS NULL AND seq > ? AND type IN (${policy.milestoneTypes.map(() => "?").join(",")})
				   AND ${visible.clause} AND ${notRetracted.clause} LIMIT 1`,
				since,
				...policy.milestoneTypes,
				...visible.params,
				...notRetracted.params,
			)
			.toArray().length > 0
	);
}

/**
 * After a write: schedule the compaction job if the write crossed the token share or appended
 * a milestone, and keep the elapsed-time check scheduled. Compaction itself never runs here.
 */
export function scheduleCompaction(sql: SqlStorage, row: SessionRow, appended: EventType[], now: number): void {
	const policy = resolvePolicy(sessionPolicy(row));
	if (overTokenShare(contextSize(row), policy) || appended.some((type) => policy.milestoneTypes.includes(type))) {
		timers.schedule(sql, COMPACT_TIMER, "", now);
	}
	if (policy.compactAfterSeconds !== null) timers.schedule(sql, COMPACT_TIMER, "", elapsedDueAt(row, policy));
}

/**
 * Recomputes the context size from the rows after a change of what is visible (restore,
 * fork, retraction): window tokens of hot visible events, and the summary in effect.
 */
export function refreshContextSize(sql: SqlStorage, intervals: Intervals): void {
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	const hot = sql
		.exec<{ n: number }>(
			`SELECT coalesce(sum(CASE WHEN blob_sha256 IS NOT NULL THEN coalesce(preview_tokens, 0) ELSE tokens END), 0) AS n
			 FROM events WHERE archived_by IS NULL AND ${visible.clause} AND ${notRetracted.clause}`,
			...visible.params,
			...notRetracted.params,
		)
		.one().n;
	const summaryTokens = latestVisibleCompaction(sql, intervals)?.summary_tokens ?? 0;
	sql.exec(
		"UPDATE session SET context_tokens = ?, summary_tokens = ?, reported_input_tokens = NULL, reported_at_context = NULL",
		hot,
		summaryTokens,
	);
}
