import { sha256 } from "../auth/api-keys";

/**
 * A session id for a create (or fork) without one. With an Idempotency-Key the id is derived
 * from it, so a retried create reaches the same object and gets the same session back.
 */
export async function newSessionId(idempotencyKey: string | undefined): Promise<string> {
	const bytes = idempotencyKey ? await sha256(`session-id\n${idempotencyKey}`) : crypto.getRandomValues(new Uint8Array(16));
	return `ses_${[...bytes.slice(0, 16)].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
