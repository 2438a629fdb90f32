import type { Session } from "../../schemas/sessions";
import { estimateContextTokens } from "../compaction/plan";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import { activeLease } from "../lease/lease";
import * as outbox from "../projection/outbox";
import { contextSize, type SessionRow, toSessionView } from "./session-row";

/** The session as GET /v1/sessions/:id shows it: row, lease, projection lag, dead letters. */
export function sessionView(session: SessionContext, row: SessionRow, now: number): Session {
	const held = activeLease(session.sql, now);
	return toSessionView(row, {
		lease: held ? { holder: held.holder, expiresAt: new Date(held.expires_at).toISOString() } : null,
		projection: { pending: outbox.pendingCount(session.sql), lastError: timers.lastError(session.sql, outbox.DRAIN_TIMER) },
		compactions: session.sql.exec<{ n: number }>("SELECT count(*) AS n FROM compactions").one().n,
		contextTokens: estimateContextTokens(contextSize(row)),
		deadLetters: timers.parked(session.sql).map((timer) => ({
			kind: timer.kind,
			key: timer.key,
			attempts: timer.attempts,
			lastError: timer.last_error,
			parkedAt: new Date(timer.parked_at ?? now).toISOString(),
		})),
	});
}
