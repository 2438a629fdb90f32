/**
 * What the checkpointer's data does and does not touch in its session: no events, state,
 * tokens or window items; one version per call; large values through R2; deleteThread makes
 * the id reusable; bad input is a 400 that writes nothing.
 */
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { EdgeContextSaver } from "../../sdk/src/langgraph";
import { freshTenantKey, workerUrl } from "./helpers";

async function api(key: string, method: string, path: string, body?: unknown) {
	const response = await fetch(`${workerUrl}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const meta = { source: "loop" as const, step: 0, parents: {} };

/** A one-node graph on a fresh tenant that answers each turn with "answer number N" (message id reply-N). */
async function replyingGraph(fetchVia?: typeof fetch) {
	const key = await freshTenantKey();
	const checkpointer = new EdgeContextSaver({ baseUrl: workerUrl, apiKey: key, ...(fetchVia ? { fetch: fetchVia } : {}) });
	let reply = 0;
	const graph = new StateGraph(MessagesAnnotation)
		.addNode("agent", () => ({ messages: [new AIMessage({ id: `reply-${++reply}`, content: `answer number ${reply}` })] }))
		.addEdge(START, "agent")
		.addEdge("agent", END)
		.compile({ checkpointer });
	return { key, checkpointer, graph };
}

test("checkpoints stay out of the session's events, state, tokens and window, and move its version once per call", async () => {
	const key = await freshTenantKey();
	const saver = new EdgeContextSaver({ baseUrl: workerUrl, apiKey: key });
	const config = { configurable: { thread_id: "thread-a", checkpoint_ns: "" } };
	const checkpoint = { ...emptyCheckpoint(), id: uuid6(0), channel_values: { big: "x".repeat(40_000) }, channel_versions: { big: 1 } };
	const saved = await saver.put(config, checkpoint, meta, { big: 1 });
	await saver.putWrites(saved, [["big", "y".repeat(30_000)]], "task-1");

	const session = await api(key, "GET", "/v1/sessions/thread-a");
	// Version 1 is the session's creation by the first put; the put is 2, the writes 3.
	expect(session.body).toMatchObject({ version: 3, eventCount: 0, stateKeyCount: 0, tokens: { total: 0, context: 0 }, agent: "langgraph" });
	const window = await api(key, "GET", "/v1/sessions/thread-a/context?budget=100000");
	expect(window.status).toBe(200);
	expect(window.body.items).toEqual([]);

	// Both values were over the inline limit: they went to R2 and come back whole.
	const tuple = await saver.getTuple(saved);
	expect(tuple?.checkpoint.channel_values.big).toHaveLength(40_000);
	expect(tuple?.pendingWrites).toEqual([["task-1", "big", "y".repeat(30_000)]]);
});

test("deleteThread clears the graph so the thread id can be used again; the session stays", async () => {
	const key = await freshTenantKey();
	const saver = new EdgeContextSaver({ baseUrl: workerUrl, apiKey: key });
	const config = { configurable: { thread_id: "reused", checkpoint_ns: "" } };
	await saver.put(config, { ...emptyCheckpoint(), id: uuid6(0) }, meta, {});
	await saver.deleteThread("reused");
	expect(await saver.getTuple(config)).toBeUndefined();
	const again = await saver.put(config, { ...emptyCheckpoint(), id: uuid6(1) }, meta, {});
	expect((await saver.getTuple(again))?.checkpoint.id).toBe(again.configurable?.checkpoint_id);
	expect((await api(key, "GET", "/v1/sessions/reused")).status).toBe(200);
	// Deleting a thread that never existed is already done.
	expect((await api(key, "DELETE", "/v1/sessions/never/graph")).body).toEqual({ deleted: 0, version: 0 });
});

test("bad input is a 400 naming the field, and writes nothing", async () => {
	const key = await freshTenantKey();
	const put = (body: unknown) => api(key, "POST", "/v1/sessions/bad/graph/checkpoints", body);
	const valid = { checkpointId: "c1", format: 4, checkpoint: { type: "json", data: "e30=" }, channelVersions: {}, metadata: "{}" };
	expect((await put({ ...valid, checkpoint: { type: "json", data: "not base64!" } })).status).toBe(400);
	expect((await put({ ...valid, metadata: "[1]" })).status).toBe(400);
	expect((await put({ ...valid, checkpointId: "" })).status).toBe(400);
	const filter = await api(key, "GET", `/v1/sessions/bad/graph/checkpoints?filter=${encodeURIComponent('{"a\\"b":1}')}`);
	expect(filter.status).toBe(400);
	expect((await api(key, "GET", "/v1/sessions/bad")).status).toBe(404);
	expect((await put(valid)).status).toBe(200);
});

test("a deleted session is a thread that cannot be written again", async () => {
	const key = await freshTenantKey();
	const saver = new EdgeContextSaver({ baseUrl: workerUrl, apiKey: key });
	const config = { configurable: { thread_id: "gone", checkpoint_ns: "" } };
	await saver.put(config, { ...emptyCheckpoint(), id: uuid6(0) }, meta, {});
	expect((await api(key, "DELETE", "/v1/sessions/gone")).status).toBe(200);
	expect(await saver.getTuple(config)).toBeUndefined();
	await expect(saver.put(config, { ...emptyCheckpoint(), id: uuid6(1) }, meta, {})).rejects.toMatchObject({ status: 410 });
});

test("a graph's conversation is mirrored into the log once, so the window shows the messages and none of the checkpoints", async () => {
	const sentConversations: string[][] = [];
	const { key, graph } = await replyingGraph((input, init) => {
		if (String(input).endsWith("/graph/checkpoints") && init?.method === "POST") {
			sentConversations.push((JSON.parse(String(init.body)) as { conversation: Array<{ id: string }> }).conversation.map((message) => message.id));
		}
		return fetch(input, init);
	});
	const config = { configurable: { thread_id: "chatty" } };
	await graph.invoke({ messages: [new HumanMessage({ id: "question-1", content: "What is a checkpointer?" })] }, config);
	await graph.invoke({ messages: [new HumanMessage({ id: "question-2", content: "And a thread?" })] }, config);

	// Every put carries the whole conversation so far; each message is in the log once.
	const events = (await api(key, "GET", "/v1/sessions/chatty/events")).body.events as Array<{ role: string; content: unknown; metadata: { messageId: string } }>;
	expect(events.map((event) => [event.role, event.metadata.messageId, event.content])).toEqual([
		["user", "question-1", "What is a checkpointer?"],
		["assistant", "reply-1", "answer number 1"],
		["user", "question-2", "And a thread?"],
		["assistant", "reply-2", "answer number 2"],
	]);
	const window = await api(key, "GET", "/v1/sessions/chatty/context?budget=100000");
	expect(window.body.items.map((item: { kind: string; content: unknown }) => [item.kind, item.content])).toEqual([
		["event", "What is a checkpointer?"],
		["event", "answer number 1"],
		["event", "And a thread?"],
		["event", "answer number 2"],
	]);
	expect(JSON.stringify(window.body)).not.toMatch(/channel_values|channel_versions|__start__|checkpoint_ns/);
	// The saver sends each message once: later puts carry only what is new.
	expect(sentConversations.flat().sort()).toEqual(["question-1", "question-2", "reply-1", "reply-2"]);
});

test("deleteThread retracts the mirrored conversation, so a new run on the reused id starts with an empty window and mirrors its own messages", async () => {
	const { key, checkpointer, graph } = await replyingGraph();
	const config = { configurable: { thread_id: "reused-chat" } };
	await graph.invoke({ messages: [new HumanMessage({ id: "question-1", content: "The old question" })] }, config);
	// Someone else's event in the same session is not the graph's: it stays.
	await api(key, "POST", "/v1/sessions/reused-chat/events", { events: [{ type: "note", content: "an operator's note" }] });
	const windowContents = async () => (await api(key, "GET", "/v1/sessions/reused-chat/context?budget=100000")).body.items.map((item: { content: unknown }) => item.content);
	expect(await windowContents()).toEqual(["The old question", "answer number 1", "an operator's note"]);

	await checkpointer.deleteThread("reused-chat");
	expect(await windowContents()).toEqual(["an operator's note"]);
	const listed = (await api(key, "GET", "/v1/sessions/reused-chat/events")).body.events as Array<{ content: unknown }>;
	expect(listed.map((event) => event.content)).toEqual(["an operator's note"]);
	// Retracted, not erased: the audit history still holds the old conversation.
	const history = (await api(key, "GET", "/v1/sessions/reused-chat/events?includeRetracted=true")).body.events as Array<{ content: unknown; retracted?: boolean }>;
	expect(history.filter((event) => event.retracted).map((event) => event.content)).toEqual(["The old question", "answer number 1"]);

	// The new run reuses the id "question-1": the server and the saver both forgot it was sent.
	await graph.invoke({ messages: [new HumanMessage({ id: "question-1", content: "The new question" })] }, config);
	expect(await windowContents()).toEqual(["an operator's note", "The new question", "answer number 2"]);
	const state = await graph.getState(config);
	expect(state.values.messages.map((message: { content: unknown }) => message.content)).toEqual(["The new question", "answer number 2"]);
});

test("a restore to before deleteThread brings the old conversation back once: the next run does not mirror it again", async () => {
	const { key, checkpointer, graph } = await replyingGraph();
	const config = { configurable: { thread_id: "restored-chat" } };
	const question = () => new HumanMessage({ id: "question-1", content: "The old question" });
	await graph.invoke({ messages: [question()] }, config);
	expect((await api(key, "POST", "/v1/sessions/restored-chat/checkpoints", { name: "before-delete" })).status).toBe(201);
	await checkpointer.deleteThread("restored-chat");
	expect((await api(key, "POST", "/v1/sessions/restored-chat/restore", { checkpoint: "before-delete" })).status).toBe(200);

	// The graph's own checkpoints are gone, so the next run sends question-1 again: the log has it already.
	await graph.invoke({ messages: [question()] }, config);
	const listed = (await api(key, "GET", "/v1/sessions/restored-chat/events")).body.events as Array<{ content: unknown }>;
	expect(listed.map((event) => event.content)).toEqual(["The old question", "answer number 1", "answer number 2"]);
});
