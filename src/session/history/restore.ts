/**
 * Restore: the session continues from an earlier version (usually a checkpoint) as a new
 * version. Nothing is deleted: the writes since the target stay in the log, out of the
 * context (history.ts), the live state is set back to the target's, and events that a later,
 * now rewound compaction had archived are filled back into hot storage from R2 so the
 * current window never needs R2.
 */
import type { BlobStore } from "../../blobs/blob-store";
import { type Failure, fail } from "../../errors";
import type { Event } from "../../schemas/events";
import { refreshContextSize } from "../compaction/compactor";
import { insertRestore, visibilitySql, visibleIntervals } from "./visibility";
import { type EventRow, rehydrate } from "../events/log";
import { bumpVersion, readSession, type SessionRow } from "../sessions/session-row";
import { isSystemNamespace } from "../state/namespaces";
import { deleteKey, liveState, publicKeyCount, putRow, stateAt } from "../state/state";
import { loadArchived } from "../context/window";

export interface PreparedRestore {
	target: number;
	checkpoint: string | null;
	rehydrate: Map<number, Event>;
}

/**
 * Events one restore brings back from archives at most: they are held in memory until the
 * commit. Beyond it the restore is refused; a fork from the same point copies only its window.
 */
export const MAX_REHYDRATED_EVENTS = 5000;

export async function prepareRestore(
	sql: SqlStorage,
	blobs: BlobStore,
	target: number,
	checkpoint: string | null,
): Promise<PreparedRestore | Failure> {
	const atTarget = visibleIntervals(sql, target);
	const events = visibilitySql(atTarget, "events.version");
	const compactions = visibilitySql(atTarget, "compactions.version");
	const stubs = sql
		.exec<EventRow & Record<string, SqlStorageValue>>(
			`SELECT * FROM events WHERE archived_by IS NOT NULL AND ${events.clause}
			   AND archived_by NOT IN (SELECT id FROM compactions WHERE ${compactions.clause}) LIMIT ?`,
			...events.params,
			...compactions.params,
			MAX_REHYDRATED_EVENTS + 1,
		)
		.toArray();
	if (stubs.length > MAX_REHYDRATED_EVENTS) {
		return fail("restore_too_large", `More than ${MAX_REHYDRATED_EVENTS} events were compacted since version ${target}; fork from it instead`, {
			maxEvents: MAX_REHYDRATED_EVENTS,
		});
	}
	return {
		target,
		checkpoint,
		rehydrate: await loadArchived(sql, blobs, stubs),
	};
}

/**
 * Applies a prepared restore; call inside the kernel's transaction, with the plan's basis
 * (compactionBasis) re-checked: a compaction committed while the archives were read may have
 * archived events the plan does not rehydrate.
 */
export function applyRestore(
	sql: SqlStorage,
	prepared: PreparedRestore,
	now: number,
): { session: SessionRow; rewoundEvents: number; stateChanges: number } {
	const before = visibilitySql(visibleIntervals(sql, (readSession(sql) as SessionRow).version));
	const updated = bumpVersion(sql, {}, now);
	insertRestore(sql, updated.version, prepared.target, prepared.checkpoint, now);
	for (const event of prepared.rehydrate.values()) rehydrate(sql, event);

	const target = stateAt(sql, visibilitySql(visibleIntervals(sql, prepared.target)));
	const live = new Map(liveState(sql).map((row) => [`${row.ns}\u0000${row.key}`, row]));
	let stateChanges = 0;
	for (const row of target) {
		const id = `${row.ns}\u0000${row.key}`;
		if (live.get(id)?.version !== row.version) {
			putRow(sql, { ...row, version: updated.version, updated_at: now });
			if (!isSystemNamespace(row.ns)) stateChanges++;
		}
		live.delete(id);
	}
	for (const row of live.values()) {
		deleteKey(sql, row.ns, row.key, updated.version, now);
		if (!isSystemNamespace(row.ns)) stateChanges++;
	}
	sql.exec("UPDATE session SET state_key_count = ?", publicKeyCount(target));

	const after = visibleIntervals(sql, updated.version);
	refreshContextSize(sql, after);
	const visibleAfter = visibilitySql(after);
	const rewoundEvents = sql
		.exec<{ n: number }>(
			`SELECT count(*) AS n FROM events WHERE ${before.clause} AND NOT ${visibleAfter.clause}`,
			...before.params,
			...visibleAfter.params,
		)
		.one().n;
	return { session: readSession(sql) as SessionRow, rewoundEvents, stateChanges };
}
