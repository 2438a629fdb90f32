/**
 * The OpenAI Agents SDK's `Session` (`@openai/agents-core` 0.20+) over an edge-context session:
 *
 *   const session = new EdgeContextSession({ baseUrl, apiKey, sessionId: "support-42" });
 *   await run(agent, "Where is my order?", { session });
 *
 * Each item is one event whose content is the item's JSON, kept whole (binary data as tagged
 * base64), so every item type round-trips: messages, function calls and results, reasoning,
 * compaction and unknown items. The event's type, role, name and toolCallId are set from the
 * item so the context window and search read naturally; `metadata.openaiAgentsItem` tells the
 * adapter's events from others written to the same session (those are not items). Large items
 * go to R2 like any event and are read back whole.
 *
 * Pop, clear and suffix replacement are one retraction each (`POST …/events/retract`): the
 * items leave the list and the window atomically, guarded by the seqs that were read, and stay
 * in the log's history. A retraction hides every event from its seq on, so events others wrote
 * after the last item go with a pop: give the adapter a session of its own. A history
 * transaction's operation id is its Idempotency-Key, kept as long as the session lives, and its
 * events carry the operation and a fingerprint of the transaction, so a retry after success
 * is recognised even once the suffix it replaced is gone.
 */
import { UserError } from "@openai/agents-core";
import type { AgentInputItem, SessionHistoryTransactionArgs, SessionHistoryTransactionAwareSession } from "@openai/agents-core";
import { type CreateSession, EdgeContextError, type EdgeContextOptions, type Event, type EventInput, edgeContext } from "./index";

export interface EdgeContextSessionOptions extends EdgeContextOptions {
	sessionId: string;
	/** How to create the session if it does not exist yet (agent, policy, ...). */
	create?: Omit<CreateSession, "id">;
}

/** Marks the adapter's events in the log. */
const ITEM_MARK = "openaiAgentsItem";
/** How binary data (Uint8Array) is written in an item's JSON. */
const BYTES_TAG = "$edgeContextBytes";
/** The most events one write takes (the API's limit). */
const MAX_EVENTS_PER_WRITE = 500;
/** The most seqs a retraction compares (the API's limit). */
const MAX_EXPECTED_SEQS = 1000;
/** Re-reads after a concurrent write moved the tail under a pop or a replacement. */
const TAIL_ATTEMPTS = 10;

/** One event of the log as the adapter sees it: an item, or someone else's event. */
interface LoggedEvent {
	seq: number;
	item?: AgentInputItem;
}

/** Which history transaction wrote an event: recorded in its metadata. */
interface Operation {
	key: string;
	fingerprint: string;
}

export class EdgeContextSession implements SessionHistoryTransactionAwareSession {
	readonly #sessionId: string;
	readonly #create: Omit<CreateSession, "id">;
	readonly #session: ReturnType<ReturnType<typeof edgeContext>["session"]>;
	readonly #client: ReturnType<typeof edgeContext>;
	#created: Promise<void> | undefined;

	constructor(options: EdgeContextSessionOptions) {
		const { sessionId, create = {}, ...client } = options;
		this.#sessionId = sessionId;
		this.#create = create;
		this.#client = edgeContext(client);
		this.#session = this.#client.session(sessionId);
	}

	async getSessionId(): Promise<string> {
		await this.#ensureSession();
		return this.#sessionId;
	}

	async getItems(limit?: number): Promise<AgentInputItem[]> {
		if (limit !== undefined && limit <= 0) return [];
		await this.#ensureSession();
		const events = limit === undefined ? await this.#readFrom(0) : (await this.#readTail(limit)).events;
		const items = itemsOf(events);
		return limit === undefined ? items : items.slice(-limit);
	}

	async addItems(items: AgentInputItem[]): Promise<void> {
		await this.#ensureSession();
		// Over the API's per-write limit the items go in consecutive writes, each retried safely.
		for (let start = 0; start < items.length; start += MAX_EVENTS_PER_WRITE) {
			await this.#session.events.append(items.slice(start, start + MAX_EVENTS_PER_WRITE).map((item) => eventFor(item)));
		}
	}

	async popItem(): Promise<AgentInputItem | undefined> {
		await this.#ensureSession();
		for (let attempt = 1; ; attempt++) {
			const { events } = await this.#readTail(1);
			const last = events.findLastIndex((event) => event.item !== undefined);
			if (last === -1) return undefined;
			try {
				await this.#session.events.retract({ fromSeq: events[last].seq, expectSeqs: events.slice(last).map((event) => event.seq) });
				return events[last].item;
			} catch (error) {
				if (!isTailChanged(error) || attempt >= TAIL_ATTEMPTS) throw error;
			}
		}
	}

	async clearSession(): Promise<void> {
		await this.#ensureSession();
		await this.#session.events.retract({ fromSeq: 1 });
	}

	/**
	 * The whole history becomes `items` (a compaction item and its kept suffix) in one write,
	 * guarded by what it replaces (compare-and-set: the seqs read, or the version they were read
	 * at when there are more than the API compares). The SDK does not say which history its
	 * compaction summarized, so it is the one read here: items another writer appends after that
	 * read are not in the summary, and they are kept, re-appended after the replacement in their
	 * order (a retraction hides a whole tail). If the history read lost events meanwhile (a pop,
	 * another replacement), the compaction no longer describes it: that is a UserError, and
	 * nothing changes.
	 */
	async replaceHistoryWithCompaction(items: AgentInputItem[]): Promise<void> {
		await this.#ensureSession();
		if (items.length > MAX_EVENTS_PER_WRITE) throw new UserError(`A replacement history holds at most ${MAX_EVENTS_PER_WRITE} items`);
		let replaced: number[] | undefined;
		for (let attempt = 1; ; attempt++) {
			// The version first: if it has not moved by the write, nothing changed since this read.
			const { version } = await this.#session.describe();
			const current = await this.#readFrom(0);
			replaced ??= current.map((event) => event.seq);
			if (replaced.some((seq, index) => current[index]?.seq !== seq)) {
				throw new UserError("Session history changed while it was being replaced with a compaction; the replacement was not applied.");
			}
			const events = [...items, ...itemsOf(current.slice(replaced.length))].map((item) => eventFor(item));
			if (events.length > MAX_EVENTS_PER_WRITE) throw new UserError(`A replacement history holds at most ${MAX_EVENTS_PER_WRITE} items`);
			const guard = current.length <= MAX_EXPECTED_SEQS ? { expectSeqs: current.map((event) => event.seq) } : { expectedVersion: version };
			try {
				await this.#session.events.retract({ fromSeq: 1, ...guard, ...(events.length > 0 ? { events } : {}) });
				return;
			} catch (error) {
				if (!(isTailChanged(error) || isVersionConflict(error)) || attempt >= TAIL_ATTEMPTS) throw error;
			}
		}
	}

	async applyHistoryTransaction({ operationId, transaction }: SessionHistoryTransactionArgs): Promise<void> {
		if (typeof operationId !== "string" || !operationId.trim()) throw new UserError("Session history transaction operationId must be a non-empty string.");
		if (transaction.type !== "append_items" && transaction.type !== "replace_suffix") throw new UserError("Unsupported session history transaction type.");
		const items = transaction.type === "append_items" ? transaction.items : transaction.replacement;
		if (items.length > MAX_EVENTS_PER_WRITE) throw new UserError(`A history transaction writes at most ${MAX_EVENTS_PER_WRITE} items`);
		await this.#ensureSession();
		const operation = { key: `openai-agents-${await sha256Hex(operationId)}`, fingerprint: await sha256Hex(canonicalJson(transaction)) };
		const events = items.map((item) => eventFor(item, operation));
		try {
			if (transaction.type === "append_items") {
				if (events.length > 0) await this.#session.events.append(events, { idempotencyKey: operation.key, idempotencyRetention: "session" });
				return;
			}
			await this.#replaceSuffix(transaction.expectedSuffix, events, operation);
		} catch (error) {
			// The same operation id with another request: a retry of this transaction after it
			// committed (the suffix was read again), or a different transaction.
			if (!(error instanceof EdgeContextError) || error.code !== "idempotency_key_reused") throw error;
			if ((await this.#findOperation(operation.key)) !== operation.fingerprint) throw alreadyAppliedDifferently();
		}
	}

	/** Replaces the items that end the history, if they are still `expectedSuffix`, with `events`. */
	async #replaceSuffix(expectedSuffix: AgentInputItem[], events: EventInput[], operation: Operation): Promise<void> {
		for (let attempt = 1; ; attempt++) {
			const { events: tail, lastSeq } = await this.#readTail(expectedSuffix.length);
			const itemEvents = tail.filter((event) => event.item !== undefined);
			const suffix = itemEvents.slice(itemEvents.length - expectedSuffix.length);
			const matches = itemEvents.length >= expectedSuffix.length && canonicalJson(suffix.map((event) => event.item)) === canonicalJson(expectedSuffix);
			if (!matches) {
				const applied = await this.#findOperation(operation.key);
				if (applied === operation.fingerprint) return;
				if (applied !== undefined) throw alreadyAppliedDifferently();
				throw new UserError("Session history suffix no longer matches the transaction precondition.");
			}
			// An empty suffix is the end of the log as read (which may reach past the lastSeq described before it): nothing after it is hidden.
			const fromSeq = suffix[0]?.seq ?? Math.max(lastSeq, tail.at(-1)?.seq ?? 0) + 1;
			try {
				await this.#session.events.retract(
					{ fromSeq, expectSeqs: tail.filter((event) => event.seq >= fromSeq).map((event) => event.seq), ...(events.length > 0 ? { events } : {}) },
					{ idempotencyKey: operation.key, idempotencyRetention: "session" },
				);
				return;
			} catch (error) {
				if (!isTailChanged(error) || attempt >= TAIL_ATTEMPTS) throw error;
			}
		}
	}

	/**
	 * The fingerprint of the transaction an operation key wrote, from its events' metadata,
	 * retracted and compacted ones included; undefined if none was written. Only read when a
	 * transaction cannot be applied, so its scan of the log is off the ordinary path.
	 */
	async #findOperation(key: string): Promise<string | undefined> {
		for (let after: number | null = 0; after !== null; ) {
			const page: { events: Event[]; nextAfter: number | null } = await this.#session.events.list({ after, limit: 1000, includeArchived: "true", includeRetracted: "true" });
			const written = page.events.find((event) => event.metadata?.operation === key);
			if (written) return String(written.metadata?.transaction);
			after = page.nextAfter;
		}
		return undefined;
	}

	/** The events in effect after `after`, in order, with each item's content read in full. */
	async #readFrom(after: number): Promise<LoggedEvent[]> {
		const events: LoggedEvent[] = [];
		for (let next: number | null = after; next !== null; ) {
			const page: { events: Event[]; nextAfter: number | null } = await this.#session.events.list({ after: next, limit: 1000, includeArchived: "true", includeContent: "true" });
			for (const event of page.events) {
				// A restore to an earlier checkpoint left these out of the session's history.
				if (event.rewound) continue;
				events.push({ seq: event.seq, ...(event.metadata?.[ITEM_MARK] ? { item: fromStoredJson(event.content) as AgentInputItem } : {}) });
			}
			next = page.nextAfter;
		}
		return events;
	}

	/**
	 * The end of the log holding at least `items` items (or the whole log), read backwards in
	 * growing steps so a pop or a short `getItems(limit)` does not read the whole session.
	 */
	async #readTail(items: number): Promise<{ events: LoggedEvent[]; lastSeq: number }> {
		const { lastSeq } = await this.#session.describe();
		for (let span = Math.max(64, items * 2); ; span *= 4) {
			const after = Math.max(0, lastSeq - span);
			const events = await this.#readFrom(after);
			if (after === 0 || itemsOf(events).length >= items) return { events, lastSeq };
		}
	}

	/** Creates the session on first use; one that already exists is used as it is. */
	#ensureSession(): Promise<void> {
		this.#created ??= this.#client.sessions.create({ ...this.#create, id: this.#sessionId }).then(
			() => undefined,
			(error: unknown) => {
				if (error instanceof EdgeContextError && error.code === "session_exists") return;
				this.#created = undefined;
				throw error;
			},
		);
		return this.#created;
	}
}

function itemsOf(events: LoggedEvent[]): AgentInputItem[] {
	return events.flatMap((event) => (event.item === undefined ? [] : [event.item]));
}

function isTailChanged(error: unknown): boolean {
	return error instanceof EdgeContextError && error.code === "tail_changed";
}

function isVersionConflict(error: unknown): boolean {
	return error instanceof EdgeContextError && error.code === "version_conflict";
}

function alreadyAppliedDifferently(): UserError {
	return new UserError("Session history operation was already applied with a different transaction.");
}

/** The event that records an item: its type and labels for readers, the item whole as content. */
function eventFor(item: AgentInputItem, operation?: Operation): EventInput {
	const raw = item as Record<string, unknown>;
	const type = typeof raw.type === "string" ? raw.type : "message";
	const metadata = { [ITEM_MARK]: true, ...(operation ? { operation: operation.key, transaction: operation.fingerprint } : {}) };
	const content = toStoredJson(item);
	const labels = { ...(isLabel(raw.name) ? { name: raw.name } : {}), ...(isLabel(raw.callId) ? { toolCallId: raw.callId } : {}) };
	const role = type === "message" ? ROLES[String(raw.role)] : undefined;
	if (role) return { type: "message", role, content, metadata };
	if (type.endsWith("_call")) return { type: "tool_call", ...labels, content, metadata };
	if (type.endsWith("_result") || type.endsWith("_output")) return { type: "tool_result", role: "tool", ...labels, content, metadata };
	return { type: "note", content, metadata };
}

/** The log's roles for the SDK's message roles (the item keeps its own). */
const ROLES: Record<string, "system" | "user" | "assistant"> = { system: "system", developer: "system", user: "user", assistant: "assistant" };

/** A name or call id the API accepts as a label (1 to 200 characters). */
function isLabel(value: unknown): value is string {
	return typeof value === "string" && value.length >= 1 && value.length <= 200;
}

/** The item as plain JSON: binary data becomes `{ $edgeContextBytes: base64 }`. */
function toStoredJson(value: unknown): Record<string, unknown> {
	return JSON.parse(JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Uint8Array ? { [BYTES_TAG]: toBase64(inner) } : inner)));
}

function fromStoredJson(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(fromStoredJson);
	if (value === null || typeof value !== "object") return value;
	const entries = Object.entries(value);
	if (entries.length === 1 && entries[0][0] === BYTES_TAG && typeof entries[0][1] === "string") return fromBase64(entries[0][1]);
	return Object.fromEntries(entries.map(([key, inner]) => [key, fromStoredJson(inner)]));
}

/** JSON with sorted keys and without undefined fields: equal for items that store the same. */
function canonicalJson(value: unknown): string {
	return JSON.stringify(toStoredJson({ value }), (_key, inner: unknown) =>
		inner !== null && typeof inner === "object" && !Array.isArray(inner)
			? Object.fromEntries(Object.entries(inner).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)))
			: inner,
	);
}

async function sha256Hex(text: string): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
	return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function toBase64(bytes: Uint8Array): string {
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
	return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
