/**
 * The projection's timers: the D1 drain and the R2 purge of a deleted session. Both are
 * external effects of changes already committed, safe to repeat: D1 statements are
 * idempotent (db/projection.ts) and a purge lists and deletes until the prefix is empty.
 */
import type { TimerHandler } from "../kernel/capability";
import * as timers from "../kernel/timers";
import * as outbox from "./outbox";

export const PURGE_TIMER = "purge_blobs";

/**
 * Projects every outbox row to D1, oldest first; only acknowledged rows are removed. The
 * timer completes in the same transaction as the read that finds the outbox empty.
 */
export const drainOutbox: TimerHandler = async (session, run) => {
	const next = () =>
		session.kernel.transaction(() => {
			const batch = outbox.peek(session.sql);
			if (!batch) timers.complete(session.sql, run);
			return batch;
		});
	for (let batch = next(); batch; batch = next()) {
		await session.dependencies.projection.apply(batch.changes);
		const acknowledged = batch.lastId;
		session.kernel.transaction(() => outbox.acknowledge(session.sql, acknowledged));
	}
};

/** Deletes every R2 object of a deleted session. The key is the tenant/session it names. */
export const purgeBlobs: TimerHandler = async (session, run) => {
	const [tenant, sessionId] = JSON.parse(run.key) as [string, string];
	await session.dependencies.blobs.deleteSession(tenant, sessionId);
};

export function schedulePurge(sql: SqlStorage, tenant: string, sessionId: string, now: number): void {
	timers.schedule(sql, PURGE_TIMER, JSON.stringify([tenant, sessionId]), now);
}

/** Whether the deletion's external purge (D1 rows, R2 objects) is still under way. */
export function purgePending(sql: SqlStorage): boolean {
	return outbox.pendingCount(sql) > 0 || timers.pending(sql, PURGE_TIMER) > 0;
}
