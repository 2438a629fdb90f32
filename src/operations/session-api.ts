import type { Principal } from "../app-env";
import type { SessionApi } from "../session/api";

/**
 * The session's Durable Object, typed by its RPC interface (session/api.ts). Its name
 * includes the principal's tenant, so a key of another tenant reaches a different (empty)
 * object and can never see or touch this one.
 *
 * The generated stub type maps results holding `unknown` JSON fields (event content, state
 * values) to `never`; every value crossing the boundary is plain JSON that structured clone
 * carries unchanged, so the interface's signatures are the truth. This is the one cast
 * between the Worker and the object.
 */
export function sessionApi(env: Env, principal: Principal, sessionId: string): SessionApi {
	return env.SESSION.getByName(`${principal.tenant}/${sessionId}`) as unknown as SessionApi;
}
