/**
 * Retention: a session whose policy says so is deleted `deleteAfterDays` after its creation,
 * or after `idleDays` without a write, by the same deletion as DELETE (content gone, R2 and D1
 * purged, a tombstone kept). One keyed timer per session, due at the earlier of the two; a
 * write pushes the idle limit back, and the timer, when it fires early because of that, just
 * re-arms for the new time. The deletion is a write like any other: it never blocks others.
 */
import { fail } from "../../errors";
import type { TimerHandler } from "../kernel/capability";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import { deleteSession } from "../sessions/lifecycle";
import { type SessionRow, sessionPolicy } from "../sessions/session-row";

export const RETENTION_TIMER = "retention";
const DAY_MS = 86_400_000;

/** When the session's retention ends, or null when its policy keeps it. */
export function retentionDue(row: SessionRow): number | null {
	const retention = sessionPolicy(row).retention;
	if (!retention) return null;
	const limits = [
		retention.deleteAfterDays === undefined ? null : row.created_at + retention.deleteAfterDays * DAY_MS,
		retention.idleDays === undefined ? null : row.updated_at + retention.idleDays * DAY_MS,
	].filter((due): due is number => due !== null);
	return limits.length === 0 ? null : Math.min(...limits);
}

/** Arms (or disarms) the retention timer for the session as it now stands; inside its write. */
export function scheduleRetention(sql: SqlStorage, row: SessionRow): void {
	const due = retentionDue(row);
	if (due === null) timers.cancel(sql, RETENTION_TIMER, "");
	else timers.schedule(sql, RETENTION_TIMER, "", due);
}

export const enforceRetention: TimerHandler = async (session: SessionContext, run) => {
	const row = session.kernel.session();
	if (!row || row.status !== "active") return;
	const due = retentionDue(row);
	if (due === null) return;
	if (due > Date.now()) {
		session.kernel.transaction(() => timers.schedule(session.sql, RETENTION_TIMER, "", due));
		return;
	}
	const deleted = await deleteSession(session, {}, {
		operation: "retention",
		timer: run,
		// A write since the check may have pushed the idle limit back.
		beforeDelete: (current, now) => {
			const stillDue = retentionDue(current);
			return stillDue !== null && stillDue <= now ? null : fail("version_conflict", "Retention is no longer due", { reason: NOT_DUE });
		},
	});
	if (!deleted.ok && deleted.details?.reason === NOT_DUE) {
		const current = session.kernel.session();
		if (current) session.kernel.transaction(() => scheduleRetention(session.sql, current));
		return;
	}
	if (!deleted.ok && deleted.code !== "session_deleted") throw new Error(`${deleted.code}: ${deleted.message}`);
};

const NOT_DUE = "not_due";
