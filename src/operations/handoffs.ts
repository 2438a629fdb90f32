/**
 * A handoff, orchestrated across the two sessions (session/handoffs/operations.ts has each
 * step): the source builds the package, the target receives it, the source records it. The
 * handoff id and a new target's id derive from the Idempotency-Key, so a retry after any
 * failed step reaches the same objects and completes what is missing, once.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail, type Result } from "../errors";
import type { HandoffBody, HandoffPackage, HandoffResult } from "../schemas/handoffs";
import type { Session } from "../schemas/sessions";
import type { WriteOptions, WriteResult } from "../session/api";
import { keyOptions } from "../session/kernel/write-spec";
import { sessionApi } from "./session-api";
import { newSessionId } from "./session-ids";

export async function handOff(env: Env, principal: Principal, sourceId: string, body: HandoffBody, options: WriteOptions): Promise<WriteResult<HandoffResult>> {
	const key = options.idempotencyKey;
	// Keys are per source: the same key used by two sources makes two handoffs.
	const targetId = body.to.sessionId ?? (await newSessionId(key && `handoff-target\n${sourceId}\n${key}`));
	if (targetId === sourceId) return fail("validation_failed", "A session cannot hand off to itself", { issues: [{ path: "to.sessionId", message: "same as the source" }] });
	const outOfScope = sessionScopeFailure(principal, targetId);
	if (outOfScope) return outOfScope;
	if (!principal.scopes.operations.includes("read")) return fail("operation_out_of_scope", "A handoff reads its source: this credential may not read", { needs: "read" });
	const handoffId = key ? `hof_${(await newSessionId(`handoff\n${sourceId}\n${key}`)).slice(4)}` : `hof_${crypto.randomUUID().replaceAll("-", "")}`;
	const caller = callerOf(principal);
	const source = sessionApi(env, principal, sourceId);

	const built: Result<{ package: HandoffPackage; subject: string | null }> = await source.exportHandoff(caller, body, { handoffId, targetId });
	if (!built.ok) return built;
	const handoff = built.value.package;
	const request = { from: sourceId, body };
	const received: WriteResult<Session> = await sessionApi(env, principal, targetId).receiveHandoff(
		caller,
		{ package: handoff, request, newSession: { id: targetId, tenant: principal.tenant, agent: body.to.agent, subject: built.value.subject ?? undefined } },
		keyOptions(options),
	);
	if (!received.ok) return received;
	const recorded: WriteResult<{ version: number }> = await source.recordHandoffOut(
		caller,
		{ handoffId, to: { agent: body.to.agent, sessionId: targetId }, task: body.task, tokens: handoff.tokens, request },
		keyOptions(options),
	);
	if (!recorded.ok) return recorded;
	// On a retry the target keeps the package it first received; the answer shows the one this request built.
	return {
		ok: true,
		replayed: received.replayed === true && recorded.replayed === true,
		value: {
			handoffId,
			from: { sessionId: sourceId, version: recorded.value.version },
			to: { agent: body.to.agent, sessionId: targetId, version: received.value.version, created: received.value.version === 1 },
			package: handoff,
		},
	};
}
