/**
 * The child's timers. They live apart from child.ts, which creates sessions (and so imports
 * the capability list): the capability list imports these handlers.
 */
import type { Caller } from "../../auth/scopes";
import { fail, ok, type Result } from "../../errors";
import type { RecordedEvent } from "../../schemas/events";
import { commitEvents, prepareEvents } from "../events/operations";
import type { TimerHandler } from "../kernel/capability";
import * as timers from "../kernel/timers";
import type { SessionRow } from "../sessions/session-row";
import { finishContract, outcomeOf, readContract } from "./contract";

export const DEADLINE_TIMER = "subagent_deadline";
export const REPORT_TIMER = "report_to_parent";
/** The longest wait between two reports of an outcome to a parent that does not answer. */
const REPORT_RETRY_MAX_MS = 15 * 60_000;

/** The deadline timer: a child still running when it passes is timed out and closed. */
export const timeOutWhenDue: TimerHandler = async (session, run) => {
	const event: RecordedEvent = { type: "subagent_timeout", content: { reason: "the deadline passed before a result came" }, metadata: { status: "timed_out" } };
	const result = await session.kernel.write({
		operation: "subagent_timeout",
		timer: run,
		fenced: false,
		whilePaused: true,
		whileClosed: true,
		basis: () => readContract(session.sql)?.status,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, [event], uploads),
		apply: ({ plan, row, now }) => {
			const contract = readContract(session.sql);
			if (!contract || contract.status !== "running") return ok(null);
			if (contract.deadline > now) {
				timers.schedule(session.sql, DEADLINE_TIMER, "", contract.deadline);
				return ok(null);
			}
			finishContract(session.sql, { status: "timed_out" }, now);
			commitEvents(session.sql, row as SessionRow, plan, now);
			timers.schedule(session.sql, REPORT_TIMER, "", now);
			return ok(null);
		},
	});
	if (!result.ok && result.code !== "session_deleted" && result.code !== "session_not_found") throw new Error(`${result.code}: ${result.message}`);
};

/** How a child names itself to its parent: it may reach the parent only, to record its own outcome. */
export function childCaller(childId: string, agent: string | null, parentId: string, requestId: string | null): Caller {
	return { principal: `subagent:${childId}`, agent, requestId, sessions: [parentId], namespaces: null };
}

/** The report timer: tells the parent the outcome until the parent has it (or is gone). */
export const reportToParent: TimerHandler = async (session, run) => {
	const contract = readContract(session.sql);
	const row = session.kernel.session();
	if (!contract || !row || row.status !== "active" || contract.reported_at !== null) return;
	const outcome = outcomeOf(contract, row);
	if (!outcome) return;
	const parent = session.dependencies.peer(row.tenant, contract.parent_id);
	const answer: Result<{ version: number; recorded: boolean }> = await parent
		.recordSubagentOutcome(childCaller(row.id, row.agent, contract.parent_id, null), outcome)
		.catch((error: unknown) => fail("dependency_unavailable", error instanceof Error ? error.message : String(error)));
	if (!answer.ok && answer.code !== "session_deleted" && answer.code !== "session_not_found") {
		// Not the timer's own retries, which park after a few: the outcome must reach the parent however long it is down.
		const attempts = contract.report_attempts + 1;
		const retryAt = Date.now() + Math.min(REPORT_RETRY_MAX_MS, 1000 * 2 ** Math.min(attempts, 20)) * (0.5 + Math.random() / 2);
		console.warn(JSON.stringify({ level: "warn", msg: "subagent report failed, will retry", parent: contract.parent_id, attempts, code: answer.code, retryAt }));
		session.kernel.transaction(() => {
			session.sql.exec("UPDATE subagent SET report_attempts = ?", attempts);
			timers.schedule(session.sql, REPORT_TIMER, "", retryAt);
			timers.complete(session.sql, run);
		});
		return;
	}
	session.kernel.transaction(() => {
		session.sql.exec("UPDATE subagent SET reported_at = ?", Date.now());
		timers.complete(session.sql, run);
	});
};

