/**
 * The parent's side of a subagent: its link to the child (status running until the outcome
 * comes) and the outcome, recorded once per child as a `subagent_result` or
 * `subagent_timeout` event with the child's provenance, whoever delivers it first (the
 * Worker right after the result, or the child's report timer).
 */
import { ok } from "../../errors";
import type { RecordedEvent } from "../../schemas/events";
import type { SubagentOutcome } from "../../schemas/subagents";
import type { PreparedEvent } from "../events/log";
import { commitEvents, prepareEvents } from "../events/operations";
import type { SessionContext } from "../kernel/session-context";
import { keyOptions, type WriteOptions, type WriteResult } from "../kernel/write-spec";
import { findLink, recordLink, setLinkStatus } from "../lineage/links";
import type { SessionRow } from "../sessions/session-row";

/** Links the child, status running; a retry links it once. */
export function registerSubagent(session: SessionContext, childId: string, options: WriteOptions): Promise<WriteResult<{ version: number }>> {
	return session.kernel.write({
		operation: "register_subagent",
		input: childId,
		options: keyOptions(options),
		fenced: false,
		apply: ({ row, now }) => {
			recordLink(session.sql, { kind: "subagent", ref: childId, peer: childId, status: "running" }, now);
			return ok({ version: (row as SessionRow).version });
		},
	});
}

/** Records a child's outcome, once: a second delivery changes nothing. */
export function recordSubagentOutcome(session: SessionContext, outcome: SubagentOutcome): Promise<WriteResult<{ version: number; recorded: boolean }>> {
	const recorded = () => {
		const status = findLink(session.sql, "subagent", outcome.childId)?.status;
		return status === "completed" || status === "timed_out";
	};
	const provenance = { subagent: outcome.childId, agent: outcome.agent, childVersion: outcome.childVersion, status: outcome.status };
	const event: RecordedEvent =
		outcome.status === "completed"
			? { type: "subagent_result", content: { task: outcome.task, result: outcome.result ?? null, resultTokens: outcome.resultTokens, finishedAt: outcome.finishedAt }, metadata: provenance }
			: { type: "subagent_timeout", content: { task: outcome.task, finishedAt: outcome.finishedAt }, metadata: provenance };
	return session.kernel.write<PreparedEvent[], { version: number; recorded: boolean }>({
		operation: "subagent_outcome",
		// The outcome is a fact about the child: it is recorded while the parent is paused or closed, and whoever holds its lease.
		fenced: false,
		whilePaused: true,
		whileClosed: true,
		basis: recorded,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, [event], uploads),
		apply: ({ plan, row, now }) => {
			const current = row as SessionRow;
			if (recorded()) return ok({ version: current.version, recorded: false });
			const { updated } = commitEvents(session.sql, current, plan, now);
			if (!recordLink(session.sql, { kind: "subagent", ref: outcome.childId, peer: outcome.childId, status: outcome.status }, now)) {
				setLinkStatus(session.sql, "subagent", outcome.childId, outcome.status, now);
			}
			return ok({ version: updated.version, recorded: true });
		},
	});
}
