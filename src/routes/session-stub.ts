import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import type { SessionApi } from "../session/api";

/**
 * The session's Durable Object, typed by its RPC interface (api.ts). Its name includes the
 * caller's tenant, so a key of another tenant reaches a different (empty) object and can
 * never see or touch this one.
 *
 * The generated stub type maps results holding `unknown` JSON fields (event content, state
 * values) to `never`; every value crossing the boundary is plain JSON that structured clone
 * carries unchanged, so the interface's own signatures are the truth. This is the one cast
 * between the Worker and the object.
 */
export function sessionStub(c: Context<AppEnv>, sessionId: string): SessionApi {
	const { tenant } = c.get("principal");
	return c.env.SESSION.getByName(`${tenant}/${sessionId}`) as unknown as SessionApi;
}

/** Marks a response that replays the first outcome of an Idempotency-Key. */
export function markReplay(c: Context<AppEnv>, replayed: boolean | undefined): void {
	if (replayed) c.header("Idempotent-Replayed", "true");
}
