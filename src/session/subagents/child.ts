/**
 * The child's side of a subagent: created seeded with its task and a slice of the parent's
 * context, it answers once (a result that satisfies its schema and size limit) or is timed
 * out by its deadline timer; either way it closes and reports the outcome to its parent,
 * retrying until the parent has it (the parent records each child's outcome once).
 */
import { fail, ok, type Result } from "../../errors";
import type { Json } from "../../schemas/common";
import type { ContextItem, ContextWindow } from "../../schemas/context";
import type { RecordedEvent } from "../../schemas/events";
import type { Session } from "../../schemas/sessions";
import type { Subagent, SubmitResultBody } from "../../schemas/subagents";
import { countTokens, DEFAULT_ENCODING } from "../content/tokens";
import type { PreparedEvent } from "../events/log";
import { commitEvents, prepareEvents, prepareEventsWith, seedEvents } from "../events/operations";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { recordLink } from "../lineage/links";
import { createWith } from "../sessions/lifecycle";
import { encodingOf, type NewSession, type SessionRow } from "../sessions/session-row";
import { finishContract, insertContract, type NewContract, readContract, toSubagent } from "./contract";
import { DEADLINE_TIMER, REPORT_TIMER } from "./timers";
import { resultProblems } from "./result-schema";


export interface SubagentSeed extends NewContract {
	context: ContextWindow | null;
	request: unknown;
}

/** Creates the child: its contract, its deadline, the task as a pinned event, then the context slice as events. */
export function createChild(session: SessionContext, input: NewSession, seed: SubagentSeed, options: WriteOptions): Promise<WriteResult<Session>> {
	let prepared: PreparedEvent[] = [];
	return createWith(session, input, options, {
		operation: "subagent",
		fingerprinted: seed.request,
		prepare: async (uploads) => {
			const events = [taskEvent(seed), ...(seed.context?.items ?? []).map((item) => contextEvent(item, seed.parentId))];
			prepared = await prepareEventsWith({ limit: session.config.inlineLimitBytes, encoding: DEFAULT_ENCODING }, events, uploads);
		},
		seed: (now) => {
			seedEvents(session.sql, prepared, now);
			insertContract(session.sql, seed);
			recordLink(session.sql, { kind: "subagent_of", ref: input.id, peer: seed.parentId }, now);
			timers.schedule(session.sql, DEADLINE_TIMER, "", seed.deadline);
		},
	});
}

function taskEvent(seed: SubagentSeed): RecordedEvent {
	return {
		type: "subagent_task",
		pinned: true,
		content: {
			task: seed.task,
			parentId: seed.parentId,
			resultSchema: seed.resultSchema,
			maxResultTokens: seed.maxResultTokens,
			deadline: new Date(seed.deadline).toISOString(),
		},
		metadata: { parent: seed.parentId },
	};
}

/** A window item of the parent as an event of the child, naming where it came from. */
function contextEvent(item: ContextItem, parentId: string): RecordedEvent {
	const metadata: Record<string, Json> = { from: parentId, kind: item.kind };
	if (item.seq !== undefined) metadata.fromSeq = item.seq;
	const content = item.content ?? (item.contentRef ? { preview: item.contentRef.preview, contentRef: item.contentRef } : null);
	const isEvent = item.kind === "event" || item.kind === "pinned_event";
	if (isEvent && item.type === "message" && item.role) return { type: "message", role: item.role, content, metadata };
	if (isEvent && (item.type === "tool_call" || item.type === "tool_result" || item.type === "decision" || item.type === "error")) {
		return { type: item.type, name: item.name, toolCallId: item.toolCallId, content, metadata };
	}
	const note: Record<string, Json> = { kind: item.kind, content };
	if (item.ns !== undefined) note.ns = item.ns;
	if (item.key !== undefined) note.key = item.key;
	return { type: "note", content: note, metadata };
}

/**
 * The child's answer: checked against its schema and size limit (422 naming what fails),
 * recorded as the child's last event, closing it, and queued for the parent.
 */
export function submitResult(session: SessionContext, body: SubmitResultBody, options: WriteOptions): Promise<WriteResult<Subagent>> {
	const event: RecordedEvent = { type: "subagent_result", content: body.result, metadata: { status: "completed" } };
	return session.kernel.write({
		operation: "subagent_result",
		input: body.result,
		options,
		prepare: async ({ row, uploads }) => {
			if (!readContract(session.sql)) return notASubagent((row as SessionRow).id);
			const resultTokens = await countTokens(JSON.stringify(body.result), encodingOf(row as SessionRow));
			return { resultTokens, events: await prepareEvents(session, row as SessionRow, [event], uploads) };
		},
		apply: ({ plan, row, now }) => {
			const contract = readContract(session.sql);
			if (!contract) return notASubagent((row as SessionRow).id);
			// Past the deadline the answer is late even if the deadline timer has not run yet (it is due, and will close the child).
			if (now >= contract.deadline) return fail("session_closed", "The subagent's deadline has passed", { reason: "timed_out", deadline: new Date(contract.deadline).toISOString() });
			const problems = resultProblems(JSON.parse(contract.result_schema) as Json, body.result);
			if (problems.length > 0) return fail("result_invalid", "The result does not satisfy the subagent's result schema", { errors: problems });
			if (plan.resultTokens > contract.max_result_tokens) {
				return fail("result_too_large", `The result is ${plan.resultTokens} tokens; the limit is ${contract.max_result_tokens}`, {
					resultTokens: plan.resultTokens,
					maxResultTokens: contract.max_result_tokens,
				});
			}
			finishContract(session.sql, { status: "completed", result: body.result, resultTokens: plan.resultTokens }, now);
			const { updated } = commitEvents(session.sql, row as SessionRow, plan.events, now);
			timers.cancel(session.sql, DEADLINE_TIMER, "");
			timers.schedule(session.sql, REPORT_TIMER, "", now);
			return ok(toSubagent(readContract(session.sql) ?? contract, updated));
		},
	});
}

/** The child as it stands: its contract and outcome. */
export function describeSubagent(session: SessionContext): Promise<Result<Subagent>> {
	return session.kernel.read((row) => {
		const contract = readContract(session.sql);
		return contract ? ok(toSubagent(contract, row)) : notASubagent(row.id);
	});
}

function notASubagent(id: string) {
	return fail("not_a_subagent", `Session ${id} was not started as a subagent`, { id });
}
