import type { Principal } from "../app-env";

/**
 * The session's Durable Object, as a typed stub of its RPC interface (SessionObject
 * implements session/api.ts's SessionApi and exposes nothing else). Its name includes the
 * principal's tenant, so a key of another tenant reaches a different (empty) object and can
 * never see or touch this one. JSON fields are typed `Json` (schemas/common.ts) so that the
 * stub's serializability check keeps every result typed.
 */
export function sessionApi(env: Env, principal: Principal, sessionId: string) {
	return env.SESSION.getByName(`${principal.tenant}/${sessionId}`);
}
