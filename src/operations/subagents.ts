/**
 * Subagents, orchestrated across parent and child (session/subagents/ has each side): the
 * parent's context slice is read, the child is created with it and its contract, and the
 * parent links the child. The child's id derives from the Idempotency-Key, so a retry
 * finishes a start that failed half way. A result is checked and recorded by the child, then
 * recorded by the parent; if that last call fails the child's report timer delivers it.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail, ok, type Result } from "../errors";
import type { Caller } from "../auth/scopes";
import type { ContextWindow } from "../schemas/context";
import type { Session } from "../schemas/sessions";
import type { CreateSubagentBody, Subagent, SubmitResultBody } from "../schemas/subagents";
import type { LayerSlice, WriteOptions, WriteResult } from "../session/api";
import { keyOptions } from "../session/kernel/write-spec";
import { childCaller } from "../session/subagents/timers";
import { schemaProblems } from "../session/subagents/result-schema";
import { sessionApi } from "./session-api";
import { newSessionId } from "./session-ids";

type SessionStub = ReturnType<typeof sessionApi>;

export async function startSubagent(env: Env, principal: Principal, parentId: string, body: CreateSubagentBody, options: WriteOptions): Promise<WriteResult<Subagent>> {
	const problems = schemaProblems(body.resultSchema);
	if (problems.length > 0) return fail("schema_invalid", "resultSchema is not a usable JSON Schema", { errors: problems });
	const key = options.idempotencyKey;
	// Keys are per parent: the same key used by two parents starts two children.
	const childId = body.id ?? (await newSessionId(key && `subagent\n${parentId}\n${key}`));
	if (childId === parentId) return fail("validation_failed", "A subagent needs a session of its own", { issues: [{ path: "id", message: "same as the parent" }] });
	const outOfScope = sessionScopeFailure(principal, childId);
	if (outOfScope) return outOfScope;
	if (!principal.scopes.operations.includes("read")) return fail("operation_out_of_scope", "A subagent reads its parent's context: this credential may not read", { needs: "read" });
	const caller = callerOf(principal);
	const parent = sessionApi(env, principal, parentId);

	const parentSession: Result<Session> = await parent.describe(caller);
	if (!parentSession.ok) return parentSession;
	// The parent must be able to link the child: refuse before the child exists, not after.
	if (parentSession.value.paused) return fail("session_paused", `Session ${parentId} is paused: ${parentSession.value.paused.reason}`, { since: parentSession.value.paused.since });
	if (parentSession.value.closed) return fail("session_closed", `Session ${parentId} is closed: ${parentSession.value.closed.reason}`, { reason: parentSession.value.closed.reason });
	const context = body.contextMaxTokens > 0 ? await contextSlice(parent, caller, body.contextMaxTokens) : ok(null);
	if (!context.ok) return context;
	const child = sessionApi(env, principal, childId);
	const created: WriteResult<Session> = await child.createSubagent(
		caller,
		{ id: childId, tenant: principal.tenant, agent: body.agent, subject: parentSession.value.subject ?? undefined, parentId },
		{
			parentId,
			task: body.task,
			resultSchema: body.resultSchema,
			maxResultTokens: body.maxResultTokens,
			deadline: Date.now() + body.timeoutSeconds * 1000,
			context: context.value,
			request: { parentId, body },
		},
		keyOptions(options),
	);
	if (!created.ok) return created;
	if (created.value.parentId !== parentId) return fail("idempotency_key_reused", "Idempotency-Key was already used to start another parent's subagent", { childId, parentId: created.value.parentId });
	const registered: WriteResult<{ version: number }> = await parent.registerSubagent(caller, childId, keyOptions(options));
	if (!registered.ok) return registered;
	const view: Result<Subagent> = await child.describeSubagent(caller);
	return view.ok ? { ...view, replayed: created.replayed } : view;
}

/**
 * The parent's window for the slice; when its pinned items alone exceed the slice (a large
 * pinned handoff, say), the slice is cut as a layer is rather than refused.
 */
async function contextSlice(parent: SessionStub, caller: Caller, budget: number): Promise<Result<ContextWindow>> {
	const window: Result<ContextWindow> = await parent.getContext(caller, { budget });
	if (window.ok || window.code !== "budget_too_small") return window;
	const slice: Result<LayerSlice> = await parent.getLayerSlice(caller, "parent", budget);
	if (!slice.ok) return slice;
	const items = slice.value.items.map(({ source: _source, ...item }) => item);
	return ok({ version: slice.value.version, budget, used: slice.value.used, utilization: Math.round((slice.value.used / budget) * 10_000) / 10_000, items, omitted: [] });
}

export async function submitSubagentResult(env: Env, principal: Principal, childId: string, body: SubmitResultBody, options: WriteOptions): Promise<WriteResult<Subagent>> {
	const submitted: WriteResult<Subagent> = await sessionApi(env, principal, childId).submitResult(callerOf(principal), body, options);
	if (!submitted.ok) return submitted;
	const child = submitted.value;
	// The parent records the outcome on the child's behalf, whatever the submitter may reach: it can only add this child's outcome, once.
	await sessionApi(env, principal, child.parentId)
		.recordSubagentOutcome(childCaller(child.id, child.agent, child.parentId, principal.requestId), {
			childId: child.id,
			agent: child.agent,
			task: child.task,
			status: "completed",
			result: child.result,
			resultTokens: child.resultTokens,
			finishedAt: child.finishedAt ?? new Date().toISOString(),
			childVersion: child.version,
		})
		// Not lost: the child's report timer delivers it.
		.catch(() => null);
	return submitted;
}
