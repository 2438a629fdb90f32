/**
 * Pause and resume. While paused, agent writes are refused with 423 session_paused (the
 * kernel's guard); reads, approval decisions, resume and the session's own upkeep go on. Both
 * are events in the log, so the next context window says why the session stopped.
 */
import * as metrics from "../metrics/metrics";
import { ok } from "../../errors";
import type { PauseBody, ResumeBody, Session } from "../../schemas/sessions";
import { commitEvents, prepareEvents } from "../events/operations";
import type { TimerHandler } from "../kernel/capability";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { sessionView } from "./view";
import type { SessionRow } from "./session-row";

export const RESUME_TIMER = "resume";

/** Pauses the session (or changes the reason and end of a pause under way). */
export function pauseSession(session: SessionContext, body: PauseBody, options: WriteOptions): Promise<WriteResult<Session>> {
	const until = body.until === undefined ? null : Date.parse(body.until);
	return session.kernel.write({
		operation: "pause",
		input: body,
		options,
		// A person pausing or resuming outranks the agent holding the writer lease.
		fenced: false,
		whilePaused: true,
		prepare: ({ row, uploads }) =>
			prepareEvents(session, row as SessionRow, [{ type: "note", content: `Session paused: ${body.reason}${body.until ? ` (until ${body.until})` : ""}`, metadata: { kind: "pause", reason: body.reason } }], uploads),
		apply: ({ plan, row, now }) => {
			// Paused first, so the version the note commits (and projects to the index) is a paused one.
			session.sql.exec("UPDATE session SET paused_at = coalesce(paused_at, ?), pause_reason = ?, pause_until = ?", now, body.reason, until);
			const { updated } = commitEvents(session.sql, { ...(row as SessionRow), paused_at: now }, plan, now);
			if (until === null) timers.cancel(session.sql, RESUME_TIMER, "");
			else timers.schedule(session.sql, RESUME_TIMER, "", until);
			return ok(sessionView(session, updated, now));
		},
	});
}

/** Resumes a paused session; resuming one that is not paused changes nothing. */
export function resumeSession(session: SessionContext, body: ResumeBody, options: WriteOptions, timer?: timers.TimerRun): Promise<WriteResult<Session>> {
	return session.kernel.write({
		operation: "resume",
		input: body,
		options,
		fenced: false,
		whilePaused: true,
		timer,
		prepare: ({ row, uploads }) =>
			prepareEvents(session, row as SessionRow, [{ type: "note", content: `Session resumed${body.note ? `: ${body.note}` : ""}`, metadata: { kind: "resume" } }], uploads),
		apply: ({ plan, row, now }) => {
			const current = row as SessionRow;
			if (current.paused_at === null) return ok(sessionView(session, current, now));
			session.sql.exec("UPDATE session SET paused_at = NULL, pause_reason = NULL, pause_until = NULL");
			const { updated } = commitEvents(session.sql, { ...current, paused_at: null }, plan, now);
			timers.cancel(session.sql, RESUME_TIMER, "");
			metrics.count(session.sql, "resumes", now);
			return ok(sessionView(session, updated, now));
		},
	});
}

/** A pause with `until` ends by itself. */
export const resumeWhenDue: TimerHandler = async (session, run) => {
	const row = session.kernel.session();
	if (!row || row.status !== "active" || row.paused_at === null || row.pause_until === null) return;
	if (row.pause_until > Date.now()) {
		session.kernel.transaction(() => timers.schedule(session.sql, RESUME_TIMER, "", row.pause_until as number));
		return;
	}
	const resumed = await resumeSession(session, { note: "the pause's end time passed" }, {}, run);
	if (!resumed.ok && resumed.code !== "session_deleted") throw new Error(`${resumed.code}: ${resumed.message}`);
};
