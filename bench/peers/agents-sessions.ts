/**
 * The peer for bench/peer.ts: Cloudflare's `agents/sessions` used as its docs show, one
 * Durable Object per conversation holding the default session, behind routes shaped like
 * edge-context's so the same requests reach both. An append is `appendMessage` of one text
 * message, the tail is a newest-first `history()` walk stopped after `limit` messages, search
 * is `session.search`, compaction is `session.compact()` with `createCompactFunction` and a
 * summarizer that returns the caller's summary (the bench has no model). `/bench/rows/:id` hands the bench the rows the object was billed for
 * (zero unless COUNT_ROWS is set).
 */
import { DurableObject } from "cloudflare:workers";
import { Lifecycle } from "agents/lifecycle";
import { createCompactFunction, type SearchResult, type SessionMessage, Sessions } from "agents/sessions";
import { SqlRowCounter } from "./row-counter";
import type { TakenRows } from "./row-counts";

interface PeerEnv {
	CONVERSATION: DurableObjectNamespace<ConversationObject>;
	/** "true" only in the bench's row-count phase, so loads measure the peer as it ships. */
	COUNT_ROWS?: string;
}

interface MessageInput {
	role: "user" | "assistant" | "system";
	content: string;
}

/** About the 20 newest of the bench's messages, what our compaction keeps by default. */
const KEEP_RECENT_TOKENS = 700;

export class ConversationObject extends DurableObject<PeerEnv> {
	readonly #rows: SqlRowCounter;
	readonly sessions = new Sessions();
	readonly lifecycle = Lifecycle.install(this).use(this.sessions);
	readonly session = this.sessions.session();

	constructor(ctx: DurableObjectState, env: PeerEnv) {
		const rows = new SqlRowCounter();
		if (env.COUNT_ROWS === "true") rows.install(ctx.storage);
		super(ctx, env);
		this.#rows = rows;
	}

	/** One `appendMessage` per message; returns how many messages the session holds after. */
	async append(messages: MessageInput[]): Promise<number> {
		// Native RPC bypasses the lifecycle's automatic start (docs: lifecycle, "Native RPC").
		await this.lifecycle.start();
		for (const { role, content } of messages) {
			await this.session.appendMessage({ id: crypto.randomUUID(), role, parts: [{ type: "text", text: content }] });
		}
		return messages.length;
	}

	/** The newest `limit` messages, oldest first: the documented way to read recent history. */
	async recent(limit: number): Promise<SessionMessage[]> {
		await this.lifecycle.start();
		const newestFirst: SessionMessage[] = [];
		for await (const message of this.session.history({ newestFirst: true })) {
			newestFirst.push(message);
			if (newestFirst.length === limit) break;
		}
		return newestFirst.reverse();
	}

	async search(query: string, limit: number): Promise<SearchResult[]> {
		await this.lifecycle.start();
		return this.session.search(query, { limit });
	}

	/** Compacts the history before the newest ~`keepRecentTokens` into `summary`; false if there was nothing to compact. */
	async compact(summary: string): Promise<boolean> {
		await this.lifecycle.start();
		this.session.onCompaction(createCompactFunction({ summarize: async () => summary, keepRecentTokens: KEEP_RECENT_TOKENS }));
		return (await this.session.compact()) !== null;
	}

	/** Rows billed since the last call: the bench reads them around each request it counts. */
	takeRowCounts(): TakenRows {
		const { totals, queries } = this.#rows.take();
		return { sql: totals, queries };
	}
}

const eventsPath = /^\/v1\/sessions\/([^/]+)\/events$/;
const searchPath = /^\/v1\/sessions\/([^/]+)\/search$/;
const compactPath = /^\/v1\/sessions\/([^/]+)\/compact$/;
const rowsPath = /^\/bench\/rows\/([^/]+)$/;

export default {
	async fetch(request, env): Promise<Response> {
		const url = new URL(request.url);
		const events = eventsPath.exec(url.pathname);
		if (events) {
			const conversation = env.CONVERSATION.getByName(decodeURIComponent(events[1]));
			if (request.method === "POST") {
				const body = await request.json<{ events: MessageInput[] }>();
				const appended = await conversation.append(body.events.map(({ role, content }) => ({ role, content })));
				return Response.json({ appended }, { status: 201 });
			}
			const limit = Number(url.searchParams.get("limit") ?? 20);
			return Response.json({ events: await conversation.recent(limit) });
		}
		const search = searchPath.exec(url.pathname);
		if (search) {
			const conversation = env.CONVERSATION.getByName(decodeURIComponent(search[1]));
			const limit = Number(url.searchParams.get("limit") ?? 20);
			return Response.json({ hits: await conversation.search(url.searchParams.get("q") ?? "", limit) });
		}
		const compact = compactPath.exec(url.pathname);
		if (compact && request.method === "POST") {
			const { summary } = await request.json<{ summary: string }>();
			return Response.json({ compacted: await env.CONVERSATION.getByName(decodeURIComponent(compact[1])).compact(summary) });
		}
		const rows = rowsPath.exec(url.pathname);
		if (rows) return Response.json(await env.CONVERSATION.getByName(decodeURIComponent(rows[1])).takeRowCounts());
		if (url.pathname === "/healthz") return Response.json({ status: "ok" });
		return new Response(null, { status: 404 });
	},
} satisfies ExportedHandler<PeerEnv>;
