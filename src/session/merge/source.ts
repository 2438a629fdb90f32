/**
 * The fork's side of a merge: what it changed since a merge point. A fork is created at its
 * version 1 with its parent's state and events of the fork point (history/fork.ts), so its
 * state at version 1 is the base of the first merge, and its events written after version 1
 * are new. A later merge of the same fork starts from the fork version the previous one
 * merged through: that state is the base, and only events written after it are new.
 */
import type { BlobStore } from "../../blobs/blob-store";
import { fail, ok, type Result } from "../../errors";
import { loadArchived } from "../context/window";
import { type CopiedEvent, type EventRow, isStub, toCopiedEvent } from "../events/log";
import { notRetractedSql } from "../events/retractions";
import { MAX_FORK_EVENTS } from "../history/fork";
import { visibilitySql, visibleIntervals } from "../history/visibility";
import type { SessionRow } from "../sessions/session-row";
import { isSystemNamespace } from "../state/namespaces";
import { liveState, type StateRow, stateAt } from "../state/state";

/** How far into a fork a merge went: the fork's version, and its last seq then. */
export interface MergePoint {
	forkVersion: number;
	forkSeq: number;
}

/** The fork point itself: the fork's snapshot is its version 1, and none of its events are new. */
export const FORK_POINT: MergePoint = { forkVersion: 1, forkSeq: 0 };

/** A key the fork changed since the merge point; null where it does not exist. */
export interface KeyChange {
	ns: string;
	key: string;
	base: StateRow | null;
	theirs: StateRow | null;
}

export interface MergeSource {
	forkId: string;
	since: MergePoint;
	/** Where the next merge of this fork starts, once this one commits. */
	through: MergePoint;
	changes: KeyChange[];
	/** The fork's new events in seq order, with their original seqs. */
	events: CopiedEvent[];
}

/** The source crosses two RPC calls, which carry at most 32 MiB; stay well under. */
const MAX_SOURCE_BYTES = 16 * 1024 * 1024;

type Row = EventRow & Record<string, SqlStorageValue>;

export async function exportMergeSource(sql: SqlStorage, blobs: BlobStore, row: SessionRow, into: string, since: MergePoint): Promise<Result<MergeSource>> {
	// forked_from, not parent_id: a session created with a parentId holds no snapshot of its parent.
	const forkedFrom = row.forked_from === null ? null : (JSON.parse(row.forked_from) as { sessionId: string }).sessionId;
	if (forkedFrom !== into) return fail("not_a_fork", `Session ${row.id} is not a fork of ${into}`, { from: row.id, into, forkedFrom });
	const now = visibleIntervals(sql, row.version);
	const visible = visibilitySql(now);
	// Events the fork has rewound or retracted since are left out: they are not part of what it now holds.
	const notRetracted = notRetractedSql(now);
	const rows = sql
		.exec<Row>(
			`SELECT * FROM events WHERE version > ? AND ${visible.clause} AND ${notRetracted.clause} ORDER BY seq LIMIT ?`,
			since.forkVersion,
			...visible.params,
			...notRetracted.params,
			MAX_FORK_EVENTS + 1,
		)
		.toArray();
	const changes = changedKeys(stateAt(sql, visibilitySql(visibleIntervals(sql, since.forkVersion))), liveState(sql));
	const bytes =
		rows.reduce((sum, event) => sum + (event.segment_id !== null ? event.tokens * 4 : (event.content?.length ?? 0)) + (event.metadata?.length ?? 0), 0) +
		changes.reduce((sum, change) => sum + (change.base?.value?.length ?? 0) + (change.theirs?.value?.length ?? 0), 0);
	if (rows.length > MAX_FORK_EVENTS || bytes > MAX_SOURCE_BYTES) {
		return fail("fork_too_large", `Fork ${row.id} has more new content than one merge carries; compact it first`, { maxEvents: MAX_FORK_EVENTS, maxBytes: MAX_SOURCE_BYTES });
	}
	const archived = await loadArchived(sql, blobs, rows.filter(isStub));
	return ok({
		forkId: row.id,
		since,
		through: { forkVersion: row.version, forkSeq: rows.at(-1)?.seq ?? since.forkSeq },
		changes,
		events: rows.map((event) => toCopiedEvent(event, archived.get(event.seq))),
	});
}

/** Keys whose row differs between the base and the fork now, system documents left out. */
function changedKeys(base: StateRow[], theirs: StateRow[]): KeyChange[] {
	const byKey = new Map<string, KeyChange>();
	const entry = (row: StateRow) => {
		const id = JSON.stringify([row.ns, row.key]);
		const found = byKey.get(id) ?? { ns: row.ns, key: row.key, base: null, theirs: null };
		byKey.set(id, found);
		return found;
	};
	for (const row of base) if (!isSystemNamespace(row.ns)) entry(row).base = row;
	for (const row of theirs) if (!isSystemNamespace(row.ns)) entry(row).theirs = row;
	return [...byKey.values()].filter((change) => !sameContent(change.base, change.theirs)).sort((a, b) => (a.ns === b.ns ? compare(a.key, b.key) : compare(a.ns, b.ns)));
}

function compare(a: string, b: string): number {
	return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two rows of a key hold the same thing (their versions aside); null: the key does not exist. */
export function sameContent(a: Pick<StateRow, "value" | "blob_sha256" | "pinned"> | null, b: Pick<StateRow, "value" | "blob_sha256" | "pinned"> | null): boolean {
	if (a === null || b === null) return a === b;
	return a.value === b.value && a.blob_sha256 === b.blob_sha256 && a.pinned === b.pinned;
}

/** Every blob the merge may take from the fork: theirs values and event contents, once each. */
export function sourceBlobs(source: MergeSource): string[] {
	const hashes = new Set<string>();
	for (const { event } of source.events) if (event.contentRef) hashes.add(event.contentRef.sha256);
	for (const change of source.changes) if (change.theirs?.blob_sha256) hashes.add(change.theirs.blob_sha256);
	return [...hashes];
}
