/**
 * A three-way merge of a fork into this session, decided inside the write's transaction.
 * For each key the fork changed since the merge point (source.ts): if this session ("ours")
 * already holds the fork's value, nothing to do; if ours is still the base, the fork's value
 * (or deletion) is taken; otherwise both changed it differently, a conflict, settled by an
 * explicit resolution, else by the strategy (`ours`, `theirs`), else reported (`report`). A
 * deletion is a change like any other; a deleted side shows as null in a conflict. Keys only
 * ours changed are not looked at: they stay.
 *
 * Ours is read here, as the transaction sees it, never carried over from before an await: a
 * write that lands while the merge copies blobs is merged against, not over.
 */
import { fail, ok, type Result } from "../../errors";
import type { Json } from "../../schemas/common";
import type { MergeConflict, MergeResult, MergeSide } from "../../schemas/merge";
import type { PlacedValue } from "../content/placement";
import type { CopiedEvent, PreparedEvent } from "../events/log";
import { commitEvents } from "../events/operations";
import { visibilitySql, visibleIntervals } from "../history/visibility";
import { project } from "../projection/outbox";
import { bumpVersion, indexRow, type SessionRow } from "../sessions/session-row";
import { deleteKey, putRow, type StateRow, writeKey } from "../state/state";
import { FORK_POINT, type KeyChange, type MergePoint, type MergeSource, sameContent } from "./source";

export type Strategy = "report" | "ours" | "theirs";

/** A judge's decision for a key, its value placed (R2 when large) and counted before the commit. */
export type PlacedResolution = { ns: string; key: string; deleted: true } | { ns: string; key: string; deleted: false; placed: PlacedValue; tokens: number; pinned?: boolean };

type Outcome = MergeResult["keys"][number]["outcome"];

/** A change to one key: take the fork's row, set a resolution's value, or delete the key. */
type Write = { kind: "theirs"; row: StateRow } | { kind: "value"; resolution: Extract<PlacedResolution, { deleted: false }>; pinned: boolean } | { kind: "delete" };

/** What the merge does to one key: its outcome, and the write it needs (none when ours already holds it). */
interface Decision {
	change: KeyChange;
	outcome: Outcome;
	write?: Write;
	/** Whether the key exists in this session before the write. */
	existed: boolean;
}

/** How far this fork was merged into the session as of the current version (restores included). */
export function lastMergePoint(sql: SqlStorage, forkId: string, version: number): MergePoint {
	const visible = visibilitySql(visibleIntervals(sql, version));
	const row = sql
		.exec<{ fork_version: number; fork_seq: number }>(
			`SELECT fork_version, fork_seq FROM merges WHERE fork_id = ? AND ${visible.clause} ORDER BY version DESC LIMIT 1`,
			forkId,
			...visible.params,
		)
		.toArray()[0];
	return row ? { forkVersion: row.fork_version, forkSeq: row.fork_seq } : FORK_POINT;
}

/** Applies the merge in the caller's transaction; a Failure returned here rolls it back. */
export function applyMerge(
	sql: SqlStorage,
	row: SessionRow,
	source: MergeSource,
	strategy: Strategy,
	resolutions: PlacedResolution[],
	now: number,
): Result<MergeResult> {
	const last = lastMergePoint(sql, source.forkId, row.version);
	if (last.forkVersion !== source.since.forkVersion) {
		return fail("version_conflict", `Fork ${source.forkId} was merged meanwhile; merge again`, { scope: "merge", reason: "merged_meanwhile" });
	}
	const changed = new Set(source.changes.map(keyId));
	const strays = resolutions.filter((resolution) => !changed.has(keyId(resolution)));
	if (strays.length > 0) {
		return fail("resolution_not_in_merge", "Resolutions may only name keys the fork changed since the fork point or its last merge", {
			keys: strays.map(({ ns, key }) => ({ ns, key })),
		});
	}
	const byKey = new Map(resolutions.map((resolution) => [keyId(resolution), resolution]));
	const decisions: Decision[] = [];
	const conflicts: MergeConflict[] = [];
	for (const change of source.changes) {
		const ours = readRow(sql, change.ns, change.key);
		const decision = decide(change, ours, strategy, byKey.get(keyId(change)));
		if (decision) decisions.push(decision);
		else conflicts.push({ ns: change.ns, key: change.key, base: sideOf(change.base), ours: sideOf(ours), theirs: sideOf(change.theirs) });
	}
	if (conflicts.length > 0) {
		return fail("merge_conflict", `${conflicts.length} key(s) changed on both sides; merge again with resolutions, or strategy ours or theirs`, {
			from: source.forkId,
			conflicts,
		});
	}
	const keys = decisions.map(({ change, outcome, write, existed }) => ({
		ns: change.ns,
		key: change.key,
		outcome,
		deleted: write ? write.kind === "delete" : !existed,
	}));
	const writes = decisions.filter((decision) => decision.write !== undefined);
	if (source.events.length === 0 && writes.length === 0) {
		// Nothing to change here (the fork has nothing new, or this session already holds it):
		// the version stays, but the next merge starts from this point, so a later change in the
		// fork is measured against what both sides now agree on.
		if (source.through.forkVersion !== last.forkVersion) recordMergePoint(sql, source.forkId, row.version, source.through, now);
		return ok({ version: row.version, from: source.forkId, changed: false, forkVersion: source.through.forkVersion, events: { count: 0, firstSeq: null, lastSeq: null }, keys });
	}

	// One version for the whole merge: the append of the fork's events bumps it, else a bump of its own.
	let updated: SessionRow;
	let firstSeq: number | null = null;
	if (source.events.length > 0) {
		({ updated, firstSeq } = commitEvents(sql, row, source.events.map((copied) => withProvenance(copied, source.forkId)), now));
	} else {
		updated = bumpVersion(sql, {}, now);
		project(sql, { kind: "write", session: indexRow(updated) }, now);
	}
	let keyDelta = 0;
	for (const { change, write, existed } of writes) {
		if (write?.kind === "delete") deleteKey(sql, change.ns, change.key, updated.version, now);
		else if (write?.kind === "theirs") putRow(sql, { ...write.row, version: updated.version, updated_at: now });
		else if (write?.kind === "value") {
			const { resolution, pinned } = write;
			writeKey(sql, resolution.ns, resolution.key, { value: resolution.placed, pinned, tokens: resolution.tokens }, updated.version, now);
		}
		keyDelta += write?.kind === "delete" ? -1 : existed ? 0 : 1;
	}
	if (keyDelta !== 0) sql.exec("UPDATE session SET state_key_count = state_key_count + ?", keyDelta);
	recordMergePoint(sql, source.forkId, updated.version, source.through, now);
	return ok({
		version: updated.version,
		from: source.forkId,
		changed: true,
		forkVersion: source.through.forkVersion,
		events: { count: source.events.length, firstSeq, lastSeq: firstSeq === null ? null : updated.last_seq },
		keys,
	});
}

/** Remembers how far the fork is merged, as of this session's `version` (a restore to before it forgets it). */
function recordMergePoint(sql: SqlStorage, forkId: string, version: number, through: MergePoint, now: number): void {
	sql.exec(
		"INSERT OR REPLACE INTO merges (fork_id, version, fork_version, fork_seq, created_at) VALUES (?, ?, ?, ?, ?)",
		forkId,
		version,
		through.forkVersion,
		through.forkSeq,
		now,
	);
}

/** The merge of one key, or null for a conflict nothing settles. */
function decide(change: KeyChange, ours: StateRow | null, strategy: Strategy, resolution: PlacedResolution | undefined): Decision | null {
	const existed = ours !== null;
	if (resolution) return { change, existed, outcome: "resolution", write: resolutionWrite(resolution, ours, change.theirs) };
	if (sameContent(ours, change.theirs)) return { change, existed, outcome: "same" };
	const bothChanged = !sameContent(ours, change.base);
	if (bothChanged && strategy === "report") return null;
	if (bothChanged && strategy === "ours") return { change, existed, outcome: "ours" };
	const write: Write | undefined = change.theirs ? { kind: "theirs", row: change.theirs } : existed ? { kind: "delete" } : undefined;
	return { change, existed, outcome: "theirs", write };
}

/** The write a resolution asks for, or none when ours already holds it. */
function resolutionWrite(resolution: PlacedResolution, ours: StateRow | null, theirs: StateRow | null): Write | undefined {
	if (resolution.deleted) return ours === null ? undefined : { kind: "delete" };
	const pinned = resolution.pinned ?? (ours ?? theirs)?.pinned === 1;
	const wanted = { value: resolution.placed.inline, blob_sha256: resolution.placed.blob?.sha256 ?? null, pinned: pinned ? 1 : 0 };
	return sameContent(ours, wanted) ? undefined : { kind: "value", resolution, pinned };
}

/** A fork's event as this session appends it: same content, with where it came from. */
function withProvenance({ event, tokens, previewTokens }: CopiedEvent, forkId: string): PreparedEvent {
	const inline = event.content === undefined ? null : JSON.stringify(event.content);
	return {
		input: {
			type: event.type,
			role: event.role,
			name: event.name,
			toolCallId: event.toolCallId,
			content: event.content ?? null,
			metadata: { ...event.metadata, mergedFrom: forkId, mergedSeq: event.seq },
			pinned: event.pinned,
			usage: event.usage,
		},
		content: {
			inline,
			blob: event.contentRef ? { sha256: event.contentRef.sha256, bytes: event.contentRef.bytes } : null,
			preview: event.contentRef?.preview ?? null,
			text: inline ?? "",
		},
		tokens,
		previewTokens,
	};
}

function readRow(sql: SqlStorage, ns: string, key: string): StateRow | null {
	return sql.exec<StateRow & Record<string, SqlStorageValue>>("SELECT * FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0] ?? null;
}

/** A key's side in a conflict: its value, its R2 reference, or null where it does not exist. */
function sideOf(row: StateRow | null): MergeSide {
	if (row === null) return null;
	if (row.blob_sha256) return { valueRef: { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" } };
	return { value: row.value === null ? null : (JSON.parse(row.value) as Json) };
}

function keyId({ ns, key }: { ns: string; key: string }): string {
	return JSON.stringify([ns, key]);
}
