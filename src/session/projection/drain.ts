/**
 * The projection's timers: the D1 drain and the R2 purge of a deleted session. Both are
 * external effects of changes already committed, safe to repeat: D1 statements are
 * idempotent (db/projection.ts) and a purge lists and deletes until the prefix is empty.
 */
import type { TimerHandler } from "../kernel/capability";
import * as audit from "../audit/audit";
import * as metrics from "../metrics/metrics";
import * as timers from "../kernel/timers";
import * as outbox from "./outbox";

export const PURGE_TIMER = "purge_blobs";

/** D1 batches one run sends before it yields to the other due timers (it is re-armed at once). */
const MAX_BATCHES_PER_RUN = 20;

/** Audit rows one D1 statement carries (10 bound parameters each, 100 at most). */
const AUDIT_ROWS_PER_BATCH = 9 * 8;

/**
 * Projects every outbox row to D1, oldest first, then the audit records D1 has not seen;
 * only acknowledged rows are removed (or marked). The timer completes in the same
 * transaction as the read that finds both empty.
 */
export const drainOutbox: TimerHandler = async (session, run) => {
	const next = () =>
		session.kernel.transaction(() => {
			const changes = outbox.peek(session.sql);
			if (changes) return { changes, records: [], figures: [], owner: null };
			const records = audit.unprojected(session.sql, AUDIT_ROWS_PER_BATCH);
			const figures = records.length === 0 ? metrics.dirtyRows(session.sql) : [];
			const row = session.kernel.session();
			if ((records.length > 0 || figures.length > 0) && row) return { changes: null, records, figures, owner: { tenant: row.tenant, sessionId: row.id } };
			timers.complete(session.sql, run);
			return null;
		});
	for (let batch = next(), sent = 0; batch; batch = next(), sent++) {
		if (sent === MAX_BATCHES_PER_RUN) {
			// Busy reads keep adding rows: hand the alarm back to the other timers, go on at once after.
			session.kernel.transaction(() => timers.schedule(session.sql, outbox.DRAIN_TIMER, "", Date.now()));
			return;
		}
		if (batch.changes) {
			await session.dependencies.projection.apply(batch.changes.changes);
			const acknowledged = batch.changes;
			session.kernel.transaction(() => outbox.acknowledge(session.sql, acknowledged));
		} else if (batch.owner && batch.records.length > 0) {
			await session.dependencies.projection.applyAudit(batch.owner, batch.records);
			const projected = batch.records.at(-1)?.seq ?? 0;
			session.kernel.transaction(() => audit.markProjected(session.sql, projected, Date.now()));
		} else if (batch.owner) {
			await session.dependencies.projection.applyMetrics(batch.owner, batch.figures);
			const figures = batch.figures;
			session.kernel.transaction(() => metrics.markProjected(session.sql, figures));
		}
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
