/**
 * Fork: a new session that starts from another's context at a version (a checkpoint, or now)
 * and is independent from then on. The snapshot carries what the window at that version is
 * made of: the events not compacted then (with their seqs), the state, and the summary in
 * effect. Compacted originals stay in the parent's archives; the fork's summary stands for
 * them. Blobs are copied into the fork's own prefix, so deleting the parent loses it nothing.
 */
import type { Json } from "../../schemas/common";
import type { BlobStore } from "../../blobs/blob-store";
import { fail, ok, type Result } from "../../errors";
import type { SessionPolicy } from "../../schemas/sessions";
import { type CompactionRow, insertCompaction, latestVisibleCompaction } from "../compaction/store";
import { refreshContextSize } from "../compaction/compactor";
import { visibilitySql, visibleIntervals } from "./visibility";
import { type CopiedEvent, type EventRow, eventsNewestFirstAt, insertCopiedEvents, isStub, pinnedEvents, toCopiedEvent } from "../events/log";
import { type SessionRow, sessionPolicy } from "../sessions/session-row";
import { publicKeyCount, putRow, type StateRow, stateAt } from "../state/state";
import { loadArchived } from "../context/window";

/** Forks copy the live part of a context, not a whole history: beyond this, compact first. */
export const MAX_FORK_EVENTS = 5000;
/** The snapshot crosses two RPC calls, which carry at most 32 MiB; stay well under. */
const MAX_FORK_BYTES = 16 * 1024 * 1024;

export interface ForkSnapshot {
	sessionId: string;
	version: number;
	lastSeq: number;
	agent: string | null;
	subject: string | null;
	metadata: Record<string, Json>;
	policy: SessionPolicy;
	events: CopiedEvent[];
	state: StateRow[];
	summary: Omit<CompactionRow, "id" | "version" | "archive_key"> | null;
}

export async function exportSnapshot(sql: SqlStorage, blobs: BlobStore, row: SessionRow, version: number): Promise<Result<ForkSnapshot>> {
	const intervals = visibleIntervals(sql, version);
	const rows: EventRow[] = [...pinnedEvents(sql, intervals)];
	let bytes = 0;
	for (const event of eventsNewestFirstAt(sql, intervals)) {
		// Content archived by age is not here to measure: its tokens stand in for it.
		bytes += (event.segment_id !== null ? event.tokens * 4 : (event.content?.length ?? 0)) + (event.preview?.length ?? 0) + (event.metadata?.length ?? 0);
		if (rows.length >= MAX_FORK_EVENTS || bytes > MAX_FORK_BYTES) {
			return fail("fork_too_large", `Version ${version} has more uncompacted context than a fork copies; compact first`, {
				maxEvents: MAX_FORK_EVENTS,
				maxBytes: MAX_FORK_BYTES,
			});
		}
		rows.push(event);
	}
	rows.sort((a, b) => a.seq - b.seq);
	const archived = await loadArchived(sql, blobs, rows.filter(isStub));
	const visible = visibilitySql(intervals);
	const lastSeq = sql.exec<{ seq: number | null }>(`SELECT max(seq) AS seq FROM events WHERE ${visible.clause}`, ...visible.params).one().seq ?? 0;
	const summary = latestVisibleCompaction(sql, intervals);
	return ok({
		sessionId: row.id,
		version,
		lastSeq,
		agent: row.agent,
		subject: row.subject,
		metadata: JSON.parse(row.metadata) as Record<string, Json>,
		policy: sessionPolicy(row),
		events: rows.map((event) => toCopiedEvent(event, archived.get(event.seq))),
		state: stateAt(sql, visible),
		summary: summary
			? {
					from_seq: summary.from_seq,
					to_seq: summary.to_seq,
					archived_count: summary.archived_count,
					summary: summary.summary,
					summary_data: summary.summary_data,
					summary_tokens: summary.summary_tokens,
					before_tokens: summary.before_tokens,
					after_tokens: summary.after_tokens,
					summarizer: summary.summarizer,
					trigger: summary.trigger,
					created_at: summary.created_at,
				}
			: null,
	});
}

/** Every blob the snapshot references, once each. */
export function snapshotBlobs(snapshot: ForkSnapshot): string[] {
	const hashes = new Set<string>();
	for (const { event } of snapshot.events) if (event.contentRef) hashes.add(event.contentRef.sha256);
	for (const row of snapshot.state) if (row.blob_sha256) hashes.add(row.blob_sha256);
	return [...hashes];
}

/** Fills a just-created session (at version 1) with a snapshot; call inside its transaction. */
export function seedSnapshot(sql: SqlStorage, snapshot: ForkSnapshot, now: number): void {
	insertCopiedEvents(sql, snapshot.events, 1);
	for (const row of snapshot.state) putRow(sql, { ...row, version: 1, updated_at: now });
	if (snapshot.summary) insertCompaction(sql, { ...snapshot.summary, version: 1, archive_key: null });
	sql.exec(
		"UPDATE session SET last_seq = ?, event_count = ?, tokens_total = ?, state_key_count = ?",
		snapshot.lastSeq,
		snapshot.events.length,
		snapshot.events.reduce((sum, copied) => sum + copied.tokens, 0),
		publicKeyCount(snapshot.state),
	);
	refreshContextSize(sql, visibleIntervals(sql, 1));
}
