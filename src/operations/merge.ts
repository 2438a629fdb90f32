/**
 * Merging a fork into the session it was forked from, shared by every transport: the target
 * says how far it has merged the fork, the fork exports what it changed since, the target
 * merges that in one kernel write (session/merge/). Returns results as data, never HTTP.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail } from "../errors";
import type { MergeBody, MergeResult } from "../schemas/merge";
import type { WriteOptions, WriteResult } from "../session/api";
import { sessionApi } from "./session-api";

export async function mergeFork(env: Env, principal: Principal, targetId: string, body: MergeBody, options: WriteOptions): Promise<WriteResult<MergeResult>> {
	if (body.from === targetId) return fail("not_a_fork", "A session cannot merge itself", { from: body.from, into: targetId });
	// The merge reads the fork: the credential must reach it and may read.
	const outOfScope = sessionScopeFailure(principal, body.from);
	if (outOfScope) return outOfScope;
	if (!principal.scopes.operations.includes("read")) return fail("operation_out_of_scope", "A merge reads the fork: this credential may not read", { needs: "read" });
	const caller = callerOf(principal);
	const target = sessionApi(env, principal, targetId);
	const since = await target.mergePoint(caller, body.from);
	if (!since.ok) return since;
	const source = await sessionApi(env, principal, body.from).exportMergeSource(caller, targetId, since.value);
	if (!source.ok) return source;
	return target.mergeFork(caller, body, source.value, options);
}
