/**
 * Live followers of a session: long-poll and SSE readers waiting in the Worker for the next
 * commit, and WebSocket subscribers held by the object with the hibernation API. Both are fed
 * from the write kernel's post-commit hook, so they only ever see committed events, in seq
 * order. A WebSocket's position (the last seq it was sent) is kept in its attachment, which
 * survives hibernation: after the object is evicted and woken by the next commit, every
 * subscriber continues exactly after what it was sent.
 */
import { admitsSession, CALLER_HEADER, type Caller } from "../../auth/scopes";
import { type Failure, ok, type Result } from "../../errors";
import type { Json } from "../../schemas/common";
import type { Event, EventPage } from "../../schemas/events";
import { listEvents } from "../events/operations";
import { readEventRows, toEvent, isStub } from "../events/log";
import type { SessionContext } from "../kernel/session-context";
import type { Commit } from "../kernel/write-spec";

/** Events sent in one WebSocket message at most; a subscriber far behind gets several. */
const BATCH = 100;

interface Position {
	/** The last seq this subscriber was sent; null while its backlog is still being sent. */
	after: number | null;
	/** Its credential's session patterns and expiry, checked again before every send. */
	sessions: string[];
	expiresAt: number | null;
}

/** Who subscribed: kept with the socket, through hibernation. */
export interface Subscriber {
	sessions: string[];
	expiresAt: number | null;
}

export class LiveFeed {
	readonly #waiters = new Set<() => void>();
	/** Commits not yet sent to WebSocket subscribers; a flush is scheduled while any wait. */
	#unsent: Commit[] = [];

	constructor(
		private readonly ctx: DurableObjectState,
		private readonly session: SessionContext,
	) {
		session.kernel.onCommit((commit) => this.#committed(commit));
	}

	/**
	 * Long-poll: the events after `after` now, or if there are none, those of the next commit
	 * (or none, after `timeoutMs`). The wait is registered before the read, so a commit landing
	 * between the two cannot be missed.
	 */
	async nextEvents(call: SessionContext, after: number, limit: number, timeoutMs: number): Promise<Result<EventPage & { timedOut: boolean }>> {
		let wake = () => {};
		let timer: ReturnType<typeof setTimeout> | undefined;
		const committed = new Promise<boolean>((resolve) => {
			wake = () => resolve(true);
			timer = setTimeout(() => resolve(false), timeoutMs);
		});
		this.#waiters.add(wake);
		try {
			const query = { after, limit, includeArchived: true, includeContent: false, includeRetracted: true };
			const now = await listEvents(call, query);
			if (!now.ok || now.value.events.length > 0) return now.ok ? ok({ ...now.value, timedOut: false }) : now;
			const arrived = await committed;
			const then = await listEvents(call, query);
			return then.ok ? ok({ ...then.value, timedOut: !arrived }) : then;
		} finally {
			if (timer !== undefined) clearTimeout(timer);
			this.#waiters.delete(wake);
		}
	}

	/**
	 * A WebSocket upgrade (`GET …/subscribe?after=N`, authorized by the Worker, which names the
	 * caller in CALLER_HEADER): the caller, if the session admits it, becomes a hibernatable
	 * subscriber sent the events after N, then every commit. The read is audited like any other.
	 */
	accept(request: Request, callFor: (caller: Caller, what: Json) => SessionContext): Response {
		if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
		const caller = JSON.parse(request.headers.get(CALLER_HEADER) ?? "null") as Caller | null;
		if (!caller) return new Response("the Worker names the caller", { status: 400 });
		const after = Number(new URL(request.url).searchParams.get("after") ?? "0");
		const call = callFor(caller, { after });
		const readable = call.kernel.admitted();
		if (!("id" in readable)) return Response.json({ error: { code: readable.code, message: readable.message } }, { status: statusOf(readable.code) });
		call.kernel.recordRead(readable.version);
		const [client, server] = Object.values(new WebSocketPair());
		const subscriber = { sessions: caller.sessions, expiresAt: caller.expiresAt ?? null };
		this.ctx.waitUntil(this.subscribe(server, Number.isSafeInteger(after) && after >= 0 ? after : 0, subscriber));
		return new Response(null, { status: 101, webSocket: client });
	}

	/**
	 * Accepts a WebSocket subscriber that has seen everything up to `after`: it is sent that
	 * backlog (archived events included), then every committed event as it commits.
	 */
	async subscribe(socket: WebSocket, after: number, subscriber: Subscriber): Promise<void> {
		this.ctx.acceptWebSocket(socket);
		socket.serializeAttachment({ after: null, ...subscriber } satisfies Position);
		await this.#catchUp(socket, after);
	}

	/** Moves the subscriber's position, keeping who it is. */
	#moveTo(socket: WebSocket, after: number | null): void {
		const current = socket.deserializeAttachment() as Position;
		socket.serializeAttachment({ ...current, after } satisfies Position);
	}

	/**
	 * Sends a subscriber everything after `after`, reading archives where events were
	 * compacted, while the commit hook leaves it alone (position null); then, in the same
	 * synchronous step as its last read, hands it back to the hook.
	 */
	async #catchUp(socket: WebSocket, after: number): Promise<void> {
		this.#moveTo(socket, null);
		let position = after;
		for (;;) {
			const page = await listEvents(this.session, { after: position, limit: BATCH, includeArchived: true, includeContent: false, includeRetracted: true });
			if (!page.ok) {
				socket.close(1011, page.message.slice(0, 120));
				return;
			}
			if (page.value.events.length > 0) {
				position = page.value.events.at(-1)?.seq ?? position;
				send(socket, { type: "events", events: page.value.events });
			}
			if (page.value.nextAfter !== null) continue;
			// Anything committed while archives were read goes out now, unless a compaction
			// archived some of it meanwhile: then read again.
			const hot = this.#hotMessages(position);
			if (!hot) continue;
			for (const message of hot.messages) sendText(socket, message);
			this.#moveTo(socket, hot.last);
			send(socket, { type: "up-to-date", after: hot.last });
			return;
		}
	}

	/**
	 * Wakes long-polls at once; WebSocket subscribers are sent the new events in a task of
	 * their own, after the write has answered: fanning out to a thousand sockets must not sit
	 * in the writer's latency. Commits arriving meanwhile share that one flush.
	 */
	#committed(commit: Commit): void {
		for (const wake of [...this.#waiters]) wake();
		// No subscriber: no task, no read of the session (a socket that connects later starts from its own position).
		if (this.#unsent.length === 0 && this.ctx.getWebSockets().length === 0) return;
		this.#unsent.push(commit);
		if (this.#unsent.length === 1) setTimeout(() => this.#flush(), 0);
	}

	#flush(): void {
		const notices = this.#unsent.map((commit) => JSON.stringify({ type: "commit", operation: commit.operation, version: commit.version }));
		this.#unsent = [];
		const row = this.session.kernel.readable();
		if (!("id" in row)) {
			for (const socket of this.ctx.getWebSockets()) socket.close(1000, "session deleted");
			return;
		}
		const now = Date.now();
		// Subscribers at the same position get the same messages: read and serialize them once.
		const catchUps = new Map<number, { messages: string[]; last: number } | null>();
		for (const socket of this.ctx.getWebSockets()) {
			const position = socket.deserializeAttachment() as Position | null;
			if (position?.after === null || position?.after === undefined) continue;
			// A credential that expired, or a session moved out of its reach (a new subject), hears no more.
			if (position.expiresAt != null && now >= position.expiresAt) {
				socket.close(4001, "credential expired");
				continue;
			}
			if (!admitsSession(position.sessions ?? ["*"], row.id, row.subject)) {
				socket.close(4003, "session out of scope");
				continue;
			}
			let catchUp = catchUps.get(position.after);
			if (catchUp === undefined) {
				catchUp = this.#hotMessages(position.after);
				catchUps.set(position.after, catchUp);
			}
			if (catchUp === null) {
				// Compacted before it could be sent: this subscriber catches up from the archives.
				void this.#catchUp(socket, position.after);
				continue;
			}
			for (const message of [...catchUp.messages, ...notices]) sendText(socket, message);
			if (catchUp.last !== position.after) socket.serializeAttachment({ ...position, after: catchUp.last } satisfies Position);
		}
	}

	/**
	 * The messages carrying the events after `after`, in batches, and the last seq in them; null
	 * when some of them were compacted already (their content is in an archive: async).
	 */
	#hotMessages(after: number): { messages: string[]; last: number } | null {
		const messages: string[] = [];
		let position = after;
		for (;;) {
			// A live stream is the log as it was appended: a later retraction does not unsend an event.
			const page = readEventRows(this.session.sql, { after: position, limit: BATCH, includeArchived: true }, null);
			if (page.rows.length === 0) return { messages, last: position };
			if (page.rows.some(isStub)) return null;
			const events: Event[] = page.rows.map(toEvent);
			messages.push(JSON.stringify({ type: "events", events }));
			position = page.rows.at(-1)?.seq ?? position;
			if (page.nextAfter === null) return { messages, last: position };
		}
	}
}

function send(socket: WebSocket, message: unknown): void {
	sendText(socket, JSON.stringify(message));
}

function sendText(socket: WebSocket, text: string): void {
	try {
		socket.send(text);
	} catch {
		// A socket closing under us: its close handler cleans up.
	}
}

/** Answers a subscriber's close; reserved codes (1005, 1006, 1015) cannot be sent back, so those get a normal close. */
export function closeBack(socket: WebSocket, code: number): void {
	try {
		socket.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, "closed");
	} catch {
		// Already closed.
	}
}

function statusOf(code: Failure["code"]): number {
	if (code === "session_deleted") return 410;
	return code === "session_out_of_scope" ? 403 : 404;
}
