import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { SessionObject } from "../session/session-object";

/**
 * The object's RPC methods as the Worker calls them. The generated stub type cannot express
 * the `unknown` JSON fields of our results (it maps them to never); every value crossing the
 * boundary is plain JSON, which structured clone carries unchanged, so the methods' own
 * signatures are the truth.
 */
export type SessionRpc = Pick<
	SessionObject,
	| "createSession"
	| "describe"
	| "appendEvents"
	| "listEvents"
	| "getState"
	| "listState"
	| "putState"
	| "deleteState"
	| "acquireLease"
	| "releaseLease"
	| "deleteSession"
	| "updateSession"
	| "getContext"
	| "compact"
	| "listCompactions"
	| "createCheckpoint"
	| "listCheckpoints"
	| "getCheckpoint"
	| "restore"
	| "exportFork"
	| "createFork"
>;

/**
 * The session's Durable Object. Its name includes the caller's tenant, so a key of another
 * tenant reaches a different (empty) object and can never see or touch this one.
 */
export function sessionStub(c: Context<AppEnv>, sessionId: string): SessionRpc {
	const { tenant } = c.get("principal");
	return c.env.SESSION.getByName(`${tenant}/${sessionId}`) as unknown as SessionRpc;
}

/** Marks a response that replays the first outcome of an Idempotency-Key. */
export function markReplay(c: Context<AppEnv>, replayed: boolean | undefined): void {
	if (replayed) c.header("Idempotent-Replayed", "true");
}
