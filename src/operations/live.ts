/**
 * Following a session live from the Worker: Server-Sent Events built on the object's
 * long-poll (`nextEvents`). Each event is sent with its seq as the SSE id, so a client that
 * reconnects with `Last-Event-ID` resumes exactly after the last event it received; the
 * backlog is followed by one `up-to-date` event, then committed events as they commit, and a
 * comment line as a keep-alive when a wait ends with nothing new.
 */
import type { Principal } from "../app-env";
import { callerOf } from "../auth/authorize";
import { isRevoked } from "../auth/revocations";
import type { Result } from "../errors";
import type { EventPage } from "../schemas/events";
import { sessionApi } from "./session-api";

/** How long one wait for a commit lasts before a keep-alive is sent. */
const WAIT_MS = 20_000;
const BATCH = 100;
const encoder = new TextEncoder();

export function eventStream(env: Env, principal: Principal, sessionId: string, after: number): ReadableStream<Uint8Array> {
	const api = sessionApi(env, principal, sessionId);
	let position = after;
	let live = false;
	return new ReadableStream<Uint8Array>({
		async pull(controller) {
			// The stream lasts as long as the credential: a token's expiry or revocation ends it.
			const ended = await credentialEnded(env, principal);
			if (ended) {
				controller.enqueue(encoder.encode(`event: error\ndata: ${JSON.stringify({ code: ended, message: "The credential is no longer valid" })}\n\n`));
				controller.close();
				return;
			}
			const page: Result<EventPage> = await api.nextEvents(callerOf(principal), position, BATCH, live ? WAIT_MS : 0);
			if (!page.ok) {
				controller.enqueue(encoder.encode(`event: error\ndata: ${JSON.stringify({ code: page.code, message: page.message })}\n\n`));
				controller.close();
				return;
			}
			const frames = page.value.events.map((event) => `id: ${event.seq}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`);
			position = page.value.events.at(-1)?.seq ?? position;
			if (!live && page.value.nextAfter === null) {
				frames.push(`event: up-to-date\ndata: ${JSON.stringify({ offset: position })}\n\n`);
				live = true;
			}
			if (frames.length === 0) frames.push(": keep-alive\n\n");
			controller.enqueue(encoder.encode(frames.join("")));
		},
	});
}

async function credentialEnded(env: Env, principal: Principal): Promise<"token_expired" | "token_revoked" | null> {
	if (principal.expiresAt === null) return null;
	if (Date.now() >= principal.expiresAt) return "token_expired";
	const tokenId = principal.id.slice("token:".length);
	return (await isRevoked(env.DB, principal.tenant, tokenId)) ? "token_revoked" : null;
}
