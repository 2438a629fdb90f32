/**
 * A chat store for the Vercel AI SDK (`ai` v7): `saveChat({chatId, messages})` and
 * `loadChat(chatId)` over `UIMessage`s, one session per chat.
 *
 *   const chats = edgeContextChatStore({ baseUrl, apiKey });
 *   const messages = await chats.loadChat(chatId);
 *   const result = streamText({ model, messages: await convertToModelMessages(messages) });
 *   return result.toUIMessageStreamResponse({ originalMessages: messages, onFinish: ({ messages }) => chats.saveChat({ chatId, messages }) });
 *
 * Each message is one event holding the whole `UIMessage` (so nothing is lost: parts, tool
 * states, metadata), tagged with its id. Messages change after they are written (a streamed
 * answer finishes, a tool result arrives, a user edits and regenerates): a save replaces the
 * stored list from the first message that differs, in one write that succeeds only if the
 * stored tail is still what it read. The log keeps every revision; the list and the context
 * window show the latest.
 */
import type { UIMessage } from "ai";
import { EdgeContextError, type EdgeContextOptions, edgeContext, type Event, type EventInput } from "./index";

/** Saves that lost a race with another save of the same chat are re-planned this many times. */
const SAVE_ATTEMPTS = 5;
/** The longest stored tail a save compares before replacing it (the server's limit). */
const MAX_COMPARED_TAIL = 1000;
const PAGE = 1000;

export interface ChatStore<MESSAGE extends UIMessage = UIMessage> {
	loadChat(chatId: string): Promise<MESSAGE[]>;
	saveChat(chat: { chatId: string; messages: MESSAGE[] }): Promise<void>;
}

interface StoredChat<MESSAGE> {
	/** The chat's messages with their seqs, in order. */
	messages: Array<{ seq: number; message: MESSAGE }>;
	/** Every event in effect, messages or not, by seq: a save's compare-and-set covers them all. */
	seqs: number[];
}

export function edgeContextChatStore<MESSAGE extends UIMessage = UIMessage>(options: EdgeContextOptions & { agent?: string }): ChatStore<MESSAGE> {
	const client = edgeContext(options);

	async function stored(chatId: string): Promise<StoredChat<MESSAGE> | null> {
		const chat: StoredChat<MESSAGE> = { messages: [], seqs: [] };
		let after = 0;
		for (;;) {
			let page: { events: Event[]; nextAfter: number | null };
			try {
				// includeContent: a message over the inline limit is kept in R2 and comes back whole;
				// includeArchived: compaction moves old messages out of the window, not out of the chat.
				page = await client.session(chatId).events.list({ after, limit: PAGE, includeContent: "true", includeArchived: "true" });
			} catch (error) {
				if (error instanceof EdgeContextError && error.code === "session_not_found") return null;
				throw error;
			}
			for (const event of page.events) {
				// A restore rewound it: it is not part of the chat any more.
				if (event.rewound) continue;
				chat.seqs.push(event.seq);
				if (event.type === "message" && typeof event.metadata?.messageId === "string") chat.messages.push({ seq: event.seq, message: event.content as MESSAGE });
			}
			if (page.nextAfter === null) return chat;
			after = page.nextAfter;
		}
	}

	return {
		async loadChat(chatId) {
			return ((await stored(chatId))?.messages ?? []).map((entry) => entry.message);
		},

		async saveChat({ chatId, messages }) {
			for (let attempt = 1; ; attempt++) {
				let chat = await stored(chatId);
				if (chat === null) {
					await createChat(chatId);
					chat = { messages: [], seqs: [] };
				}
				const current = chat.messages;
				let first = 0;
				while (first < current.length && first < messages.length && sameMessage(current[first].message, messages[first])) first++;
				if (first === current.length && first === messages.length) return;
				// Replaced from the first message that differs; events others added after it go with it.
				const fromSeq = current[first]?.seq ?? (chat.seqs.at(-1) ?? 0) + 1;
				const replaced = chat.seqs.filter((seq) => seq >= fromSeq);
				if (replaced.length > MAX_COMPARED_TAIL) throw new EdgeContextError(422, "validation_failed", `A save replaces at most ${MAX_COMPARED_TAIL} stored events at once`);
				try {
					await client.session(chatId).events.retract({
						fromSeq,
						expectSeqs: replaced,
						...(messages.length > first ? { events: messages.slice(first).map(toEvent) } : {}),
					});
					return;
				} catch (error) {
					// Another save of this chat committed in between: plan again against what it wrote.
					if (!(error instanceof EdgeContextError) || error.code !== "tail_changed" || attempt >= SAVE_ATTEMPTS) throw error;
				}
			}
		},
	};

	async function createChat(chatId: string): Promise<void> {
		try {
			await client.sessions.create({ id: chatId, ...(options.agent ? { agent: options.agent } : {}) });
		} catch (error) {
			// Created by a concurrent save: fine.
			if (!(error instanceof EdgeContextError) || error.code !== "session_exists") throw error;
		}
	}
}

function toEvent(message: UIMessage): EventInput {
	return { type: "message", role: message.role, content: message as unknown as EventInput["content"], metadata: { messageId: message.id } };
}

/** Equal as JSON, whatever order their keys were written in. */
function sameMessage(a: unknown, b: unknown): boolean {
	return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
	return JSON.stringify(value, (_key, inner: unknown) =>
		inner && typeof inner === "object" && !Array.isArray(inner)
			? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
			: inner,
	);
}
