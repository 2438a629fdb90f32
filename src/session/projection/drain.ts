/**
 * The projection's timers: the D1 drain and the R2 purge of a deleted session. Both are
 * external effects of changes already committed, safe to repeat: D1 statements are
 * idempotent (db/projection.ts) and a purge lists and deletes until the prefix is empty.
 */
import type { IndexBatch } from "../../db/index-batch";
import type { TimerHandler } from "../kernel/capability";
import * as audit from "../audit/audit";
import * as metrics from "../metrics/metrics";
import * as timers from "../kernel/timers";
import * as outbox from "./outbox";

export const PURGE_TIMER = "purge_blobs";

/** Batches one run sends before it yields to the other due timers (it is re-armed at once). */
const MAX_BATCHES_PER_RUN = 20;

/** Audit rows one batch carries: eight statements of nine (10 bound parameters each, 100 at most). */
const AUDIT_ROWS_PER_BATCH = 9 * 8;

/**
 * Projects every outbox row to the index, oldest first, with the audit records and metric
 * figures D1 has not seen: one batch per round, so the shard's projector gets one call per
 * drain, not three. Only acknowledged rows are removed (or marked). The timer completes in the
 * same transaction as the read that finds all three empty.
 */
export const drainOutbox: TimerHandler = async (session, run) => {
	const next = () =>
		session.kernel.transaction(() => {
			const pending = outbox.peek(session.sql);
			const row = session.kernel.session();
			const owner = row ? { tenant: row.tenant, sessionId: row.id } : null;
			const records = owner ? audit.unprojected(session.sql, AUDIT_ROWS_PER_BATCH) : [];
			const figures = owner ? metrics.dirtyRows(session.sql) : [];
			if (!pending && records.length === 0 && figures.length === 0) {
				timers.complete(session.sql, run);
				return null;
			}
			const batch: IndexBatch = { changes: pending?.changes ?? [] };
			if (owner && records.length > 0) batch.audit = { owner, records };
			if (owner && figures.length > 0) batch.metrics = { owner, figures };
			return { batch, acknowledged: pending };
		});
	for (let round = next(), sent = 0; round; round = next(), sent++) {
		if (sent === MAX_BATCHES_PER_RUN) {
			// Busy reads keep adding rows: hand the alarm back to the other timers, go on at once after.
			session.kernel.transaction(() => timers.schedule(session.sql, outbox.DRAIN_TIMER, "", Date.now()));
			return;
		}
		await session.dependencies.projection.write(round.batch);
		const { batch, acknowledged } = round;
		session.kernel.transaction(() => {
			if (acknowledged !== null) outbox.acknowledge(session.sql, acknowledged);
			const projected = batch.audit?.records.at(-1)?.seq;
			if (projected !== undefined) audit.markProjected(session.sql, projected, Date.now());
			if (batch.metrics) metrics.markProjected(session.sql, batch.metrics.figures);
		});
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
