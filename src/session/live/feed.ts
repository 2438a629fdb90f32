/**
 * Live followers of a session: long-poll and SSE readers waiting in the Worker for the next
 * commit, and WebSocket subscribers held by the object with the hibernation API. Both are fed
 * from the write kernel's post-commit hook, so they only ever see committed events, in seq
 * order. A WebSocket's position (the last seq it was sent) is kept in its attachment, which
 * survives hibernation: after the object is evicted and woken by the next commit, every
 * subscriber continues exactly after what it was sent.
 */
import { ok, type Result } from "../../errors";
import type { Event, EventPage } from "../../schemas/events";
import { listEvents } from "../events/operations";
import { readEventRows, toEvent } from "../events/log";
import type { SessionContext } from "../kernel/session-context";
import type { Commit } from "../kernel/write-kernel";

/** Events sent in one WebSocket message at most; a subscriber far behind gets several. */
const BATCH = 100;

interface Position {
	/** The last seq this subscriber was sent; null while its backlog is still being sent. */
	after: number | null;
}

export class LiveFeed {
	readonly #waiters = new Set<() => void>();

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
	async nextEvents(after: number, limit: number, timeoutMs: number): Promise<Result<EventPage & { timedOut: boolean }>> {
		let wake = () => {};
		let timer: ReturnType<typeof setTimeout> | undefined;
		const committed = new Promise<boolean>((resolve) => {
			wake = () => resolve(true);
			timer = setTimeout(() => resolve(false), timeoutMs);
		});
		this.#waiters.add(wake);
		try {
			const query = { after, limit, includeArchived: true, includeContent: false };
			const now = await listEvents(this.session, query);
			if (!now.ok || now.value.events.length > 0) return now.ok ? ok({ ...now.value, timedOut: false }) : now;
			const arrived = await committed;
			const then = await listEvents(this.session, query);
			return then.ok ? ok({ ...then.value, timedOut: !arrived }) : then;
		} finally {
			if (timer !== undefined) clearTimeout(timer);
			this.#waiters.delete(wake);
		}
	}

	/**
	 * Accepts a WebSocket subscriber that has seen everything up to `after`: it is sent that
	 * backlog (archived events included), then every committed event as it commits.
	 */
	async subscribe(socket: WebSocket, after: number): Promise<void> {
		this.ctx.acceptWebSocket(socket);
		socket.serializeAttachment({ after: null } satisfies Position);
		let position = after;
		for (;;) {
			const page = await listEvents(this.session, { after: position, limit: BATCH, includeArchived: true, includeContent: false });
			if (!page.ok) {
				socket.close(1011, page.message.slice(0, 120));
				return;
			}
			if (page.value.events.length > 0) {
				position = page.value.events.at(-1)?.seq ?? position;
				send(socket, { type: "events", events: page.value.events });
			}
			if (page.value.nextAfter === null) break;
		}
		// Anything committed while the backlog was read from archives is sent now, synchronously
		// with becoming live: from here the commit hook feeds this socket.
		socket.serializeAttachment({ after: this.#sendHot(socket, position) } satisfies Position);
		send(socket, { type: "up-to-date", after: (socket.deserializeAttachment() as Position).after });
	}

	#committed(commit: Commit): void {
		for (const wake of [...this.#waiters]) wake();
		for (const socket of this.ctx.getWebSockets()) {
			const position = socket.deserializeAttachment() as Position | null;
			if (position?.after === null || position?.after === undefined) continue;
			const after = this.#sendHot(socket, position.after);
			if (after !== position.after) socket.serializeAttachment({ after } satisfies Position);
			send(socket, { type: "commit", operation: commit.operation, version: commit.version });
		}
	}

	/** Sends the hot events after `after`, in batches; returns the last seq sent. */
	#sendHot(socket: WebSocket, after: number): number {
		let position = after;
		for (;;) {
			const page = readEventRows(this.session.sql, { after: position, limit: BATCH, includeArchived: false });
			if (page.rows.length === 0) return position;
			const events: Event[] = page.rows.map(toEvent);
			send(socket, { type: "events", events });
			position = page.rows.at(-1)?.seq ?? position;
			if (page.nextAfter === null) return position;
		}
	}
}

function send(socket: WebSocket, message: unknown): void {
	try {
		socket.send(JSON.stringify(message));
	} catch {
		// A socket closing under us: its close handler cleans up.
	}
}
