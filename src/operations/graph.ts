/**
 * The LangGraph checkpointer, Worker side: a thread is a session (created on its first
 * checkpoint), and a listing across threads reads each thread's object and merges.
 */
import type { Principal } from "../app-env";
import { callerOf } from "../auth/authorize";
import { mayReach } from "../auth/scopes";
import { listSessions } from "../db/sessions";
import { ok, type Result } from "../errors";
import { type GraphPage, type GraphPutBody, type GraphSearchQuery, type GraphWriteResult, type GraphWritesBody, MAX_GRAPH_THREADS } from "../schemas/graph";
import type { WriteOptions, WriteResult } from "../session/api";
import { sessionApi } from "./session-api";
import { createSession } from "./sessions";
import { indexDatabase } from "../projector/shards";

/** The agent name of sessions a checkpointer created; a listing across threads finds them by it. */
export const GRAPH_AGENT = "langgraph";

/** Stores a checkpoint, creating the thread's session on its first one. */
export function putCheckpoint(env: Env, principal: Principal, threadId: string, body: GraphPutBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>> {
	return inThread(env, principal, threadId, () => sessionApi(env, principal, threadId).putGraphCheckpoint(callerOf(principal), body, options));
}

/**
 * Stores a task's writes, creating the thread's session too: with LangGraph's default (async)
 * durability, a run's first writes can arrive while its first checkpoint is still in flight.
 */
export function putWrites(env: Env, principal: Principal, threadId: string, body: GraphWritesBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>> {
	return inThread(env, principal, threadId, () => sessionApi(env, principal, threadId).putGraphWrites(callerOf(principal), body, options));
}

async function inThread(env: Env, principal: Principal, threadId: string, put: () => Promise<WriteResult<GraphWriteResult>>): Promise<WriteResult<GraphWriteResult>> {
	const first = await put();
	if (first.ok || first.code !== "session_not_found") return first;
	const created = await createSession(env, principal, { id: threadId, agent: GRAPH_AGENT }, {});
	// Another first checkpoint of the same thread may have created it meanwhile.
	if (!created.ok && created.code !== "session_exists") return created;
	return put();
}

/**
 * Checkpoints across the tenant's threads, newest id first: the threads the index knows as
 * checkpointer-created (it lags writes by about a second) plus those the caller names (a
 * saver names the threads it wrote itself, so it reads its own writes). At most
 * MAX_GRAPH_THREADS threads are read, most recently updated first.
 */
export async function searchCheckpoints(env: Env, principal: Principal, query: GraphSearchQuery): Promise<Result<GraphPage>> {
	const named = (query.threads ?? []).filter((id) => mayReach(principal.scopes.sessions, id));
	const indexed = await listSessions(indexDatabase(env, principal.tenant), principal.tenant, { agent: GRAPH_AGENT, limit: MAX_GRAPH_THREADS }, null, principal.scopes.sessions);
	const threads = [...new Set([...named, ...indexed.rows.map((row) => row.id)])].slice(0, MAX_GRAPH_THREADS);
	const { threads: _, ...list } = query;
	const pages = await Promise.all(threads.map((id) => sessionApi(env, principal, id).listGraphCheckpoints(callerOf(principal), list)));
	// A thread deleted, never created or out of reach has nothing to list.
	const checkpoints = pages.flatMap((page) => (page.ok ? page.value.checkpoints : []));
	checkpoints.sort((a, b) => (a.checkpointId < b.checkpointId ? 1 : a.checkpointId > b.checkpointId ? -1 : 0));
	return ok({ checkpoints: checkpoints.slice(0, query.limit) });
}
