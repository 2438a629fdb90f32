/**
 * Session creation and forking, shared by every transport (HTTP routes, MCP, SDK tests):
 * functions over (env, principal) that return results as data, never HTTP.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail, type Result } from "../errors";
import type { ForkBody } from "../schemas/context";
import type { CreateSessionBody, Session } from "../schemas/sessions";
import type { ForkSnapshot, WriteOptions, WriteResult } from "../session/api";
import { tenantRetention } from "../db/settings";
import { sessionApi } from "./session-api";
import { newSessionId } from "./session-ids";

/** Creates a session under the principal's tenant, with a generated id when none is given. */
export async function createSession(env: Env, principal: Principal, body: CreateSessionBody, options: WriteOptions): Promise<WriteResult<Session>> {
	const id = body.id ?? (await newSessionId(options.idempotencyKey));
	const outOfScope = sessionScopeFailure(principal, id);
	if (outOfScope) return outOfScope;
	const defaults = body.policy?.retention === undefined ? await tenantRetention(env.DB, principal.tenant) : null;
	const policy = defaults ? { ...body.policy, retention: defaults } : body.policy;
	return sessionApi(env, principal, id).createSession(callerOf(principal), { ...body, policy, id, tenant: principal.tenant }, options);
}

/**
 * Forks a session at a checkpoint or version: the parent exports a snapshot, the fork's own
 * object creates itself from it (copying the blobs it references into its own prefix).
 */
export async function forkSession(env: Env, principal: Principal, parentId: string, body: ForkBody, options: WriteOptions): Promise<WriteResult<Session>> {
	const forkId = body.id ?? (await newSessionId(options.idempotencyKey));
	if (forkId === parentId) {
		return fail("validation_failed", "A fork needs an id of its own", { issues: [{ path: "id", message: "same as the parent" }] });
	}
	const outOfScope = sessionScopeFailure(principal, forkId);
	if (outOfScope) return outOfScope;
	if (!principal.scopes.operations.includes("read")) return fail("operation_out_of_scope", "A fork reads its parent: this credential may not read", { needs: "read" });
	const snapshot: Result<ForkSnapshot> = await sessionApi(env, principal, parentId).exportFork(callerOf(principal), { checkpoint: body.checkpoint, version: body.version });
	if (!snapshot.ok) return snapshot;
	return sessionApi(env, principal, forkId).createFork(
		callerOf(principal),
		{
			id: forkId,
			tenant: principal.tenant,
			agent: body.agent ?? snapshot.value.agent ?? undefined,
			subject: snapshot.value.subject ?? undefined,
			parentId,
			metadata: snapshot.value.metadata,
			policy: snapshot.value.policy,
			forkedFrom: { sessionId: parentId, version: snapshot.value.version },
		},
		snapshot.value,
		options,
	);
}
