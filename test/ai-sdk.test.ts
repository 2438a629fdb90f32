import { exports } from "cloudflare:workers";
import { convertToModelMessages, readUIMessageStream, streamText, tool, type UIMessage } from "ai";
import { convertArrayToReadableStream, MockLanguageModelV4 } from "ai/test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { edgeContextChatStore } from "../sdk/src/ai-sdk";
import { ADMIN_KEY, callJson, newId } from "./helpers";

const chats = edgeContextChatStore({
	baseUrl: "http://edge-context.test",
	apiKey: ADMIN_KEY,
	fetch: (input, init) => exports.default.fetch(new Request(input, init)),
});

const usage = { inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };

/** A model that streams `text` after an optional tool call, as a provider would. */
function model(turns: Array<{ text?: string; toolCall?: { id: string; name: string; input: unknown } }>) {
	let turn = 0;
	return new MockLanguageModelV4({
		doStream: async () => {
			const { text, toolCall } = turns[turn++];
			const parts: unknown[] = [{ type: "stream-start", warnings: [] }];
			if (toolCall) parts.push({ type: "tool-call", toolCallId: toolCall.id, toolName: toolCall.name, input: JSON.stringify(toolCall.input) });
			if (text) parts.push({ type: "text-start", id: "t" }, { type: "text-delta", id: "t", delta: text }, { type: "text-end", id: "t" });
			parts.push({ type: "finish", finishReason: { unified: toolCall ? "tool-calls" : "stop", raw: undefined }, usage });
			return { stream: convertArrayToReadableStream(parts as never[]) };
		},
	});
}

/** One streamed turn, as a route handler runs it: the reply is saved when the stream finishes. */
async function turn(chatId: string, messages: UIMessage[], languageModel: MockLanguageModelV4, tools = {}, messageMetadata?: (options: { part: { type: string } }) => unknown) {
	let saved: Promise<void> = Promise.resolve();
	const result = streamText({ model: languageModel, messages: await convertToModelMessages(messages), tools, stopWhen: ({ steps }) => steps.length >= 2 });
	const stream = result.toUIMessageStream({
		originalMessages: messages,
		generateMessageId: () => `a-${crypto.randomUUID()}`,
		messageMetadata,
		onFinish: ({ messages: all }) => {
			saved = chats.saveChat({ chatId, messages: all });
		},
	});
	let last: UIMessage | undefined;
	for await (const message of readUIMessageStream({ stream })) last = message;
	await saved;
	return last;
}

const user = (text: string): UIMessage => ({ id: `u-${crypto.randomUUID()}`, role: "user", parts: [{ type: "text", text }] });

describe("Vercel AI SDK chat store", () => {
	it("saves a streamed turn and a tool-using turn, and a reload gives back the same messages", async () => {
		const chatId = newId("chat");
		expect(await chats.loadChat(chatId)).toEqual([]);
		const first = [user("What is the capital of France?")];
		await turn(chatId, first, model([{ text: "Paris." }]));
		const reloaded = await chats.loadChat(chatId);
		expect(reloaded).toHaveLength(2);
		expect(reloaded[0]).toEqual(first[0]);
		expect(reloaded[1]).toMatchObject({ role: "assistant", parts: expect.arrayContaining([expect.objectContaining({ type: "text", text: "Paris." })]) });

		const weather = tool({ description: "weather", inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => ({ city, celsius: 21 }) });
		const second = [...reloaded, user("And the weather there?")];
		await turn(chatId, second, model([{ toolCall: { id: "call-1", name: "weather", input: { city: "Paris" } } }, { text: "21 degrees." }]), { weather });
		const again = await chats.loadChat(chatId);
		expect(again).toHaveLength(4);
		expect(again.slice(0, 3)).toEqual(second);
		const parts = JSON.stringify(again[3].parts);
		expect(parts).toContain('"celsius":21');
		expect(parts).toContain("21 degrees.");

		// The window shows the conversation: four messages, latest revisions.
		const window = (await callJson(`/v1/sessions/${chatId}/context?budget=100000`)).body;
		expect(window.items.filter((item: { kind: string }) => item.kind === "event")).toHaveLength(4);
	});

	it("keeps every revision of a message in the log and shows the latest: an edit and regenerate replaces the tail once", async () => {
		const chatId = newId("chat");
		const question = user("Summarise chapter one");
		await turn(chatId, [question], model([{ text: "Chapter one is about a storm." }]));
		const edited: UIMessage = { ...question, parts: [{ type: "text", text: "Summarise chapter two" }] };
		await turn(chatId, [edited], model([{ text: "Chapter two is about the calm after it." }]));

		const latest = await chats.loadChat(chatId);
		expect(latest).toHaveLength(2);
		expect(latest[0]).toEqual(edited);
		expect(JSON.stringify(latest[1].parts)).toContain("calm after it");
		const log = (await callJson(`/v1/sessions/${chatId}/events?includeRetracted=true`)).body.events;
		expect(log.map((event: { retracted?: boolean }) => event.retracted === true)).toEqual([true, true, false, false]);
		expect(JSON.stringify(log[0].content)).toContain("chapter one");
		const window = JSON.stringify((await callJson(`/v1/sessions/${chatId}/context?budget=100000`)).body.items);
		expect(window).toContain("chapter two");
		expect(window).not.toContain("chapter one");
		// Saving the same messages again writes nothing.
		const version = (await callJson(`/v1/sessions/${chatId}`)).body.version;
		await chats.saveChat({ chatId, messages: latest });
		expect((await callJson(`/v1/sessions/${chatId}`)).body.version).toBe(version);
	});

	it("keeps message metadata: a streamed reply's comes back on reload, and a change to it alone is a new revision", async () => {
		const chatId = newId("chat");
		const question: UIMessage = { ...user("Bonjour ?"), metadata: { locale: "fr" } };
		const stamp = ({ part }: { part: { type: string } }) => (part.type === "start" ? { model: "mock-1" } : part.type === "finish" ? { finishedAt: 1_700_000_000 } : undefined);
		await turn(chatId, [question], model([{ text: "Bonjour !" }]), {}, stamp);
		const reloaded = await chats.loadChat(chatId);
		expect(reloaded[0]).toEqual(question);
		expect(reloaded[1].metadata).toEqual({ model: "mock-1", finishedAt: 1_700_000_000 });

		const rated = [reloaded[0], { ...reloaded[1], metadata: { ...(reloaded[1].metadata as object), rating: "up" } }];
		await chats.saveChat({ chatId, messages: rated });
		expect(await chats.loadChat(chatId)).toEqual(rated);
		const log = (await callJson(`/v1/sessions/${chatId}/events?includeRetracted=true`)).body.events;
		expect(log.map((event: { retracted?: boolean }) => event.retracted === true)).toEqual([false, true, false]);
	});

	it("keeps the whole chat through a compaction, an event another writer added, and a restore", async () => {
		const chatId = newId("chat");
		await callJson("/v1/sessions", { method: "POST", body: { id: chatId, policy: { keepRecentEvents: 1 } } });
		const messages = [user("one"), user("two"), user("three")];
		await chats.saveChat({ chatId, messages });
		expect((await callJson(`/v1/sessions/${chatId}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		expect(await chats.loadChat(chatId)).toEqual(messages);
		// Saving the same chat after a compaction writes nothing (no message is duplicated).
		const version = (await callJson(`/v1/sessions/${chatId}`)).body.version;
		await chats.saveChat({ chatId, messages });
		expect((await callJson(`/v1/sessions/${chatId}`)).body.version).toBe(version);

		await callJson(`/v1/sessions/${chatId}/events`, { method: "POST", body: { events: [{ type: "note", content: "an operator's note" }] } });
		await callJson(`/v1/sessions/${chatId}/checkpoints`, { method: "POST", body: { name: "three-messages" } });
		const four = [...messages, user("four")];
		await chats.saveChat({ chatId, messages: four });
		expect(await chats.loadChat(chatId)).toEqual(four);
		await callJson(`/v1/sessions/${chatId}/restore`, { method: "POST", body: { checkpoint: "three-messages" } });
		expect(await chats.loadChat(chatId)).toEqual(messages);
		await chats.saveChat({ chatId, messages: [...messages, user("four again")] });
		expect((await chats.loadChat(chatId)).map((message) => (message.parts[0] as { text: string }).text)).toEqual(["one", "two", "three", "four again"]);
	});

	it("returns large messages whole, and two saves of one chat racing each other leave one of them intact", async () => {
		const chatId = newId("chat");
		const big: UIMessage = { id: "big", role: "user", parts: [{ type: "text", text: "long paste ".repeat(3000) }] };
		await chats.saveChat({ chatId, messages: [big] });
		expect(await chats.loadChat(chatId)).toEqual([big]);

		const a = [big, user("from tab A")];
		const b = [big, user("from tab B"), user("and more from tab B")];
		await Promise.all([chats.saveChat({ chatId, messages: a }), chats.saveChat({ chatId, messages: b })]);
		const final = await chats.loadChat(chatId);
		expect([JSON.stringify(a), JSON.stringify(b)]).toContain(JSON.stringify(final));
	});
});
