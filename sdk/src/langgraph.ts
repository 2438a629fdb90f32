/**
 * A LangGraph checkpointer backed by edge-context: each thread is a session, and each saver
 * call is one HTTP request to the session's graph routes (put, putWrites and deleteThread one
 * transaction each; getTuple and a list page one read each).
 *
 *   const checkpointer = new EdgeContextSaver({ baseUrl, apiKey });
 *   const graph = builder.compile({ checkpointer });
 *   await graph.invoke(input, { configurable: { thread_id: "support-42" } });
 *
 * Thread ids are session ids (letters, digits, `. _ : -`, at most 128). A cross-thread `list`
 * reads the threads the index knows (about a second behind) plus the ones this saver wrote.
 */
import {
	BaseCheckpointSaver,
	type ChannelVersions,
	type Checkpoint,
	type CheckpointListOptions,
	type CheckpointMetadata,
	type CheckpointPendingWrite,
	type CheckpointTuple,
	compareWritesSortKeys,
	copyCheckpoint,
	getCheckpointId,
	maxChannelVersion,
	type PendingWrite,
	type SerializerProtocol,
	TASKS,
	WRITES_IDX_MAP,
	writesSortKey,
} from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import { EdgeContextError } from "./index";
import type { components } from "./schema";

type GraphTuple = components["schemas"]["GraphTuple"];
type GraphValue = components["schemas"]["GraphValue"];

export interface EdgeContextSaverOptions {
	baseUrl: string;
	apiKey: string;
	/** The fetch to use (a counting or instrumented one, say); the global one by default. */
	fetch?: typeof fetch;
	serde?: SerializerProtocol;
	/**
	 * The root graph's channel holding its chat messages (`messages` by default, as in
	 * MessagesAnnotation): new ones are mirrored into the session's log, so its context window
	 * shows the conversation. `false` mirrors nothing.
	 */
	conversationChannel?: string | false;
}

/** Checkpoints one list request asks for (the API's page size). */
const PAGE = 200;
/** Threads named to a cross-thread list so it reads this saver's own writes (the API reads at most 100). */
const OWN_THREADS = 100;
const RETRIES = 3;

export class EdgeContextSaver extends BaseCheckpointSaver {
	readonly #baseUrl: string;
	readonly #apiKey: string;
	readonly #fetch: typeof fetch;
	/** Threads this saver wrote, most recent last. */
	readonly #ownThreads = new Set<string>();
	readonly #conversationChannel: string | false;
	/** Message ids this saver already sent per thread: a put sends only the new ones (the server keeps each once anyway). */
	readonly #mirrored = new Map<string, Set<string>>();

	constructor(options: EdgeContextSaverOptions) {
		super(options.serde);
		this.#baseUrl = options.baseUrl.replace(/\/$/, "");
		this.#apiKey = options.apiKey;
		this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
		this.#conversationChannel = options.conversationChannel ?? "messages";
	}

	async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
		const threadId = config.configurable?.thread_id as string | undefined;
		if (threadId === undefined) return undefined;
		const query = new URLSearchParams({ checkpointNs: config.configurable?.checkpoint_ns ?? "" });
		const checkpointId = getCheckpointId(config);
		if (checkpointId) query.set("checkpointId", checkpointId);
		const found = await this.#request<{ tuple: GraphTuple | null }>("GET", `${thread(threadId)}/graph/tuple?${query}`);
		return found?.tuple ? this.#toTuple(found.tuple) : undefined;
	}

	async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
		const threadId = config.configurable?.thread_id as string | undefined;
		const checkpointNs = config.configurable?.checkpoint_ns as string | undefined;
		const onlyId = config.configurable?.checkpoint_id as string | undefined;
		let remaining = options.limit ?? Number.POSITIVE_INFINITY;
		let before = options.before?.configurable?.checkpoint_id as string | undefined;
		if (onlyId !== undefined) {
			// One checkpoint by id: the tuple, if the list's other conditions admit it.
			if (threadId === undefined || remaining < 1 || (before !== undefined && onlyId >= before)) return;
			const tuple = await this.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: checkpointNs ?? "", checkpoint_id: onlyId } });
			const metadata = (tuple?.metadata ?? {}) as Record<string, unknown>;
			if (tuple && Object.entries(options.filter ?? {}).every(([key, value]) => metadata[key] === value)) yield tuple;
			return;
		}
		while (remaining > 0) {
			const query = new URLSearchParams({ limit: String(Math.min(PAGE, remaining)) });
			if (checkpointNs !== undefined) query.set("checkpointNs", checkpointNs);
			if (before !== undefined) query.set("before", before);
			if (options.filter && Object.keys(options.filter).length > 0) query.set("filter", JSON.stringify(options.filter));
			if (threadId === undefined && this.#ownThreads.size > 0) query.set("threads", [...this.#ownThreads].slice(-OWN_THREADS).join(","));
			const path = threadId === undefined ? `/v1/graph/checkpoints?${query}` : `${thread(threadId)}/graph/checkpoints?${query}`;
			const page = await this.#request<{ checkpoints: GraphTuple[] }>("GET", path);
			const checkpoints = page?.checkpoints ?? [];
			for (const tuple of checkpoints) yield await this.#toTuple(tuple);
			if (checkpoints.length < Math.min(PAGE, remaining)) return;
			remaining -= checkpoints.length;
			before = checkpoints[checkpoints.length - 1].checkpointId;
		}
	}

	async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
		if (config.configurable === undefined) throw new Error('Missing "configurable" field in "config" param');
		const threadId = config.configurable.thread_id as string | undefined;
		if (threadId === undefined) throw new Error('Missing "thread_id" field in passed "config.configurable"');
		const checkpointNs = (config.configurable.checkpoint_ns as string | undefined) ?? "";
		const { channel_values: values, ...rest } = copyCheckpoint(checkpoint);
		const blobs = await Promise.all(
			Object.entries(newVersions).map(async ([channel, version]) =>
				channel in values ? { channel, version: String(version), ...(await this.#dump(values[channel])) } : { channel, version: String(version), type: "empty" },
			),
		);
		const [, metadataBytes] = await this.serde.dumpsTyped(metadata);
		const mirrored = this.#mirrored.get(threadId);
		const conversation =
			checkpointNs === "" && this.#conversationChannel && this.#conversationChannel in newVersions
				? withinBytes(conversationOf(values[this.#conversationChannel]).filter((message) => !mirrored?.has(message.id)))
				: [];
		await this.#request("POST", `${thread(threadId)}/graph/checkpoints`, {
			checkpointNs,
			checkpointId: checkpoint.id,
			parentCheckpointId: (config.configurable.checkpoint_id as string | undefined) ?? null,
			format: checkpoint.v,
			checkpoint: await this.#dump({ ...rest, channel_values: {} }),
			channelVersions: checkpoint.channel_versions,
			metadata: new TextDecoder().decode(metadataBytes),
			blobs,
			conversation,
		});
		this.#remember(threadId, conversation);
		this.#ownThreads.delete(threadId);
		this.#ownThreads.add(threadId);
		return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpoint.id } };
	}

	async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
		const threadId = config.configurable?.thread_id as string | undefined;
		const checkpointId = config.configurable?.checkpoint_id as string | undefined;
		if (threadId === undefined) throw new Error('Missing "thread_id" field in passed "config.configurable"');
		if (checkpointId === undefined) throw new Error('Missing "checkpoint_id" field in passed "config.configurable"');
		if (writes.length === 0) return;
		const serialized = await Promise.all(writes.map(async ([channel, value], idx) => ({ channel, idx: WRITES_IDX_MAP[channel] ?? idx, ...(await this.#dump(value)) })));
		await this.#request("POST", `${thread(threadId)}/graph/writes`, {
			checkpointNs: (config.configurable?.checkpoint_ns as string | undefined) ?? "",
			checkpointId,
			taskId,
			taskPath,
			writes: serialized,
		});
	}

	/**
	 * Clears the thread's checkpoints and writes, and retracts the messages mirrored from it, so
	 * its id can be used again (its session stays). The ids sent are forgotten with them: a new
	 * run on the id that reuses one must send it again.
	 */
	async deleteThread(threadId: string): Promise<void> {
		await this.#request("DELETE", `${thread(threadId)}/graph`);
		this.#ownThreads.delete(threadId);
		this.#mirrored.delete(threadId);
	}

	async #toTuple(stored: GraphTuple): Promise<CheckpointTuple> {
		const checkpoint = (await this.#load(stored.checkpoint)) as Checkpoint;
		checkpoint.channel_values = {};
		for (const blob of stored.blobs) checkpoint.channel_values[blob.channel] = await this.#load(blob);
		if (stored.parentSends) {
			// Checkpoints before format 4 kept pending sends on the parent: move them into TASKS.
			checkpoint.channel_values[TASKS] = await Promise.all(stored.parentSends.map((send) => this.#load(send)));
			const versions = Object.values(checkpoint.channel_versions);
			checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
		}
		const ordered = [...stored.writes].sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)));
		const pendingWrites: CheckpointPendingWrite[] = await Promise.all(ordered.map(async (write) => [write.taskId, write.channel, await this.#load(write)] as CheckpointPendingWrite));
		const at = (checkpointId: string) => ({ configurable: { thread_id: stored.threadId, checkpoint_ns: stored.checkpointNs, checkpoint_id: checkpointId } });
		return {
			config: at(stored.checkpointId),
			checkpoint,
			metadata: (await this.serde.loadsTyped("json", stored.metadata)) as CheckpointMetadata,
			pendingWrites,
			...(stored.parentCheckpointId === null ? {} : { parentConfig: at(stored.parentCheckpointId) }),
		};
	}

	async #dump(value: unknown): Promise<GraphValue> {
		const [type, bytes] = await this.serde.dumpsTyped(value);
		return { type, data: toBase64(bytes) };
	}

	#load(value: { type: string; data: string }): Promise<unknown> {
		return this.serde.loadsTyped(value.type, fromBase64(value.data));
	}

	#remember(threadId: string, conversation: GraphMessage[]): void {
		if (conversation.length === 0) return;
		// Bounded: a long-lived saver forgets its oldest threads (which then send their messages once more).
		if (!this.#mirrored.has(threadId) && this.#mirrored.size >= REMEMBERED_THREADS) this.#mirrored.delete(this.#mirrored.keys().next().value as string);
		const ids = this.#mirrored.get(threadId) ?? new Set<string>();
		for (const message of conversation) ids.add(message.id);
		this.#mirrored.set(threadId, ids);
	}

	/** One request, retried on network errors and 503 (writes carry an Idempotency-Key); null for a thread that does not exist. */
	async #request<T>(method: string, path: string, body?: unknown): Promise<T | null> {
		const headers: Record<string, string> = { authorization: `Bearer ${this.#apiKey}` };
		if (body !== undefined) headers["content-type"] = "application/json";
		if (method !== "GET") headers["idempotency-key"] = crypto.randomUUID();
		for (let attempt = 0; ; attempt++) {
			let response: Response;
			try {
				response = await this.#fetch(`${this.#baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
			} catch (error) {
				if (attempt >= RETRIES) throw new EdgeContextError(0, "network_error", error instanceof Error ? error.message : String(error));
				await pause(attempt);
				continue;
			}
			if (response.ok) return (await response.json()) as T;
			const failure = (await response.json().catch(() => null)) as { error?: { code: string; message: string; details?: Record<string, unknown> } } | null;
			if (response.status === 503 && attempt < RETRIES) {
				await pause(attempt);
				continue;
			}
			// A missing or deleted thread has no checkpoints (a write to a deleted one is refused).
			if (method === "GET" && (response.status === 404 || response.status === 410)) return null;
			const error = failure?.error;
			throw new EdgeContextError(response.status, (error?.code ?? "network_error") as EdgeContextError["code"], error?.message ?? response.statusText, error?.details ?? {}, response.headers.get("x-request-id"));
		}
	}
}

type GraphMessage = components["schemas"]["GraphMessage"];

const ROLES: Record<string, GraphMessage["role"]> = { human: "user", ai: "assistant", system: "system", developer: "system", tool: "tool" };
/** The server mirrors at most this many of a put's messages (the newest): the rest were mirrored by earlier puts. */
const MAX_CONVERSATION = 500;
/** The conversation a put carries, at most, in bytes of JSON (the newest messages): a put's body stays well within the request limit. */
const MAX_CONVERSATION_BYTES = 512 * 1024;
const REMEMBERED_THREADS = 1000;

/** The newest messages whose JSON fits MAX_CONVERSATION_BYTES. */
function withinBytes(messages: GraphMessage[]): GraphMessage[] {
	let bytes = 0;
	let start = messages.length;
	while (start > 0) {
		const size = JSON.stringify(messages[start - 1]).length;
		if (bytes + size > MAX_CONVERSATION_BYTES) break;
		bytes += size;
		start--;
	}
	return messages.slice(start);
}

/** LangChain messages as the log keeps them: role, content (with an AI message's tool calls), ids. */
function conversationOf(value: unknown): GraphMessage[] {
	if (!Array.isArray(value)) return [];
	const messages: GraphMessage[] = [];
	for (const message of value as Array<Record<string, unknown> & { getType?: () => string; _getType?: () => string }>) {
		const kind = message.getType?.() ?? message._getType?.() ?? (message.type as string | undefined);
		const role = kind === undefined ? undefined : ROLES[kind];
		if (typeof message.id !== "string" || message.id.length === 0 || message.id.length > 256 || role === undefined) continue;
		const toolCalls = Array.isArray(message.tool_calls) && message.tool_calls.length > 0 ? message.tool_calls : null;
		const entry: GraphMessage = { id: message.id, role, content: (toolCalls ? { content: message.content, toolCalls } : message.content) as GraphMessage["content"] };
		if (typeof message.name === "string" && message.name.length > 0 && message.name.length <= 200) entry.name = message.name;
		if (typeof message.tool_call_id === "string" && message.tool_call_id.length > 0 && message.tool_call_id.length <= 200) entry.toolCallId = message.tool_call_id;
		messages.push(entry);
	}
	return messages.slice(-MAX_CONVERSATION);
}

function thread(threadId: string): string {
	return `/v1/sessions/${encodeURIComponent(threadId)}`;
}

function pause(attempt: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
}

function toBase64(bytes: Uint8Array): string {
	let binary = "";
	for (let start = 0; start < bytes.length; start += 0x8000) binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
	return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
	const binary = atob(text);
	const bytes = new Uint8Array(binary.length);
	for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
	return bytes;
}
