/**
 * The OpenAI Agents SDK session adapter, differentially: the same ScriptedModel script runs
 * against the SDK's MemorySession and against an edge-context session (the real Worker and
 * Durable Object), and the stored histories and what the model was sent must be the same.
 */
import { Agent, type AgentInputItem, MemorySession, OutputGuardrailTripwireTriggered, RunState, type Session, type SessionHistoryTransactionArgs, UserError, run, tool } from "@openai/agents-core";
import { ScriptedModel, type ScriptedModelInput, assistantMessage, functionCall } from "@openai/agents-core/testing";
import { runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { EdgeContextSession } from "../sdk/src/openai-agents";
import { ADMIN_KEY, callJson, newId, runJobsUntilIdle, sessionObject } from "./helpers";

const LARGE_OUTPUT = `page 31: ${"the CRDT merge is commutative. ".repeat(2000)}`;

function edgeSession(options: { create?: Record<string, unknown>; fetch?: typeof fetch; sessionId?: string } = {}) {
	return new EdgeContextSession({
		baseUrl: "http://edge-context.test",
		apiKey: ADMIN_KEY,
		sessionId: options.sessionId ?? newId("agents"),
		backoffMs: 5,
		fetch: options.fetch ?? ((input, init) => exports.default.fetch(new Request(input, init))),
		create: options.create,
	});
}

/**
 * Two processes on one session: `ours`, and `other`, which acts (`beforeFirstRetract`) just
 * before our first retraction reaches the server, between our read of the history and our write.
 */
function racingSessions(beforeFirstRetract: (other: EdgeContextSession) => Promise<unknown>) {
	const sessionId = newId("agents");
	const other = edgeSession({ sessionId });
	let retracts = 0;
	const ours = edgeSession({
		sessionId,
		fetch: async (input, init) => {
			const request = new Request(input, init);
			if (request.url.endsWith("/events/retract") && retracts++ === 0) await beforeFirstRetract(other);
			return exports.default.fetch(request);
		},
	});
	return { ours, retracts: () => retracts };
}

function researcher(model: ScriptedModel, options: { approval?: boolean; outputGuardrail?: "blocks" | "passes" } = {}) {
	const readPage = tool({
		name: "read_page",
		description: "Reads a page of the paper",
		parameters: z.object({ page: z.number() }),
		needsApproval: options.approval ?? false,
		execute: async () => LARGE_OUTPUT,
	});
	return new Agent({
		name: "researcher",
		model,
		tools: [readPage],
		outputGuardrails: options.outputGuardrail
			? [{ name: "no-drafts", execute: async () => ({ tripwireTriggered: options.outputGuardrail === "blocks", outputInfo: "checked" }) }]
			: [],
	});
}

/** A turn that reasons, reads a page (a result too large to store inline), then answers. */
function readingTurn(call: string, answer: string): ScriptedModelInput[] {
	return [
		[
			{ type: "reasoning", id: `rs_${call}`, content: [{ type: "input_text", text: "page 31 has the merge rule" }], providerData: { encryptedContent: "opaque" } },
			functionCall("read_page", { page: 31 }, { callId: call }),
		],
		[assistantMessage(answer)],
	];
}

/** Runs the turns with a fresh model on the script; what the model was sent, call by call. */
async function runTurns(session: Session, script: ScriptedModelInput[], turns: string[]) {
	const model = new ScriptedModel(script);
	for (const turn of turns) await run(researcher(model), turn, { session });
	model.assertComplete();
	return model.calls.map((call) => call.request.input);
}

async function eventsOf(session: EdgeContextSession, query = "") {
	return (await callJson(`/v1/sessions/${await session.getSessionId()}/events?limit=1000${query}`)).body.events as Array<Record<string, any>>;
}

async function windowEvents(session: EdgeContextSession) {
	const window = (await callJson(`/v1/sessions/${await session.getSessionId()}/context?budget=1000000`)).body;
	return window.items.filter((item: { kind: string }) => item.kind === "event");
}

describe("OpenAI Agents SDK session", () => {
	it("stores a run's history as MemorySession does and sends the model the same input, turn by turn", async () => {
		const memory = new MemorySession();
		const ours = edgeSession();
		const script = [...readingTurn("call_1", "Merges commute."), [assistantMessage("Yes, idempotent too.")]];
		const turns = ["What does page 31 say?", "Are merges idempotent?"];
		const expectedInputs = await runTurns(memory, script, turns);
		expect(await runTurns(ours, script, turns)).toEqual(expectedInputs);
		const items = await ours.getItems();
		expect(items).toEqual(await memory.getItems());
		expect(items.map((item) => item.type)).toEqual(["message", "reasoning", "function_call", "function_call_result", "message", "message", "message"]);
		expect(await ours.getItems(2)).toEqual(await memory.getItems(2));

		// The log reads naturally, and the large result went to R2 and came back whole.
		const events = await eventsOf(ours);
		expect(events.map((event) => [event.type, event.role ?? null])).toEqual([
			["message", "user"],
			["note", null],
			["tool_call", null],
			["tool_result", "tool"],
			["message", "assistant"],
			["message", "user"],
			["message", "assistant"],
		]);
		expect(events[2]).toMatchObject({ name: "read_page", toolCallId: "call_1" });
		expect(events[3].contentRef.bytes).toBeGreaterThan(LARGE_OUTPUT.length);
		expect(JSON.stringify(items[3])).toContain(LARGE_OUTPUT);
	});

	it("round-trips every item type exactly: roles, binary content, reasoning, compaction, unknown and hosted items", async () => {
		const items = [
			{ type: "message", role: "system", content: "You are careful." },
			{ role: "developer", content: "Cite pages." },
			{ type: "message", role: "user", content: [{ type: "input_text", text: "see the scan" }, { type: "input_image", image: { data: new Uint8Array([0, 1, 254, 255]), mediaType: "image/png" } }] },
			{ type: "reasoning", id: "rs_9", content: [{ type: "input_text", text: "think" }], rawContent: [{ type: "reasoning_text", text: "raw" }], providerData: { encrypted: "x" } },
			{ type: "function_call", callId: "c".repeat(300), name: "read_page", arguments: '{"page":1}', status: "completed" },
			{ type: "function_call_result", callId: "c1", name: "read_page", status: "completed", output: { type: "text", text: LARGE_OUTPUT } },
			{ type: "hosted_tool_call", name: "web_search", status: "completed", providerData: { query: "crdt" } },
			{ type: "compaction", encrypted_content: "enc-blob", id: "cmp_1", created_by: "server" },
			{ type: "unknown", id: "u_1", providerData: { kind: "future_item", nested: { list: [1, null, "two"] } } },
			{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "done" }] },
		] as AgentInputItem[];
		const memory = new MemorySession();
		const ours = edgeSession();
		await memory.addItems(items);
		await ours.addItems(items);
		expect(await ours.getItems()).toStrictEqual(await memory.getItems());
		expect(await ours.getItems(3)).toStrictEqual(await memory.getItems(3));
		expect(await ours.getItems(0)).toEqual([]);

		// Events other writers add to the session are not items.
		await callJson(`/v1/sessions/${await ours.getSessionId()}/events`, { method: "POST", body: { events: [{ type: "note", content: "a human's note" }] } });
		expect(await ours.getItems()).toStrictEqual(await memory.getItems());
	});

	it("pops and clears as MemorySession does: the items leave the list and the window and stay in the log's history", async () => {
		const memory = new MemorySession();
		const ours = edgeSession();
		const script = [...readingTurn("call_1", "Merges commute."), [assistantMessage("After the pop.")], [assistantMessage("After the clear.")]];
		const memoryModel = new ScriptedModel(script);
		const ourModel = new ScriptedModel(script);
		await run(researcher(memoryModel), "What does page 31 say?", { session: memory });
		await run(researcher(ourModel), "What does page 31 say?", { session: ours });

		const popped = await ours.popItem();
		expect(popped).toEqual(await memory.popItem());
		expect(popped).toMatchObject({ role: "assistant" });
		expect(await ours.getItems()).toEqual(await memory.getItems());
		const window = await windowEvents(ours);
		expect(window.map((item: { seq: number }) => item.seq)).toEqual((await eventsOf(ours)).map((event) => event.seq));
		expect(window.map((item: { content?: unknown }) => item.content)).not.toContainEqual(popped);
		const retracted = (await eventsOf(ours, "&includeRetracted=true")).filter((event) => event.retracted);
		expect(retracted.map((event) => event.content)).toEqual([popped]);

		await run(researcher(memoryModel), "Again?", { session: memory });
		await run(researcher(ourModel), "Again?", { session: ours });
		await memory.clearSession();
		await ours.clearSession();
		expect(await ours.getItems()).toEqual([]);
		expect(await ours.popItem()).toBeUndefined();
		expect(await windowEvents(ours)).toEqual([]);
		await run(researcher(memoryModel), "Fresh start", { session: memory });
		await run(researcher(ourModel), "Fresh start", { session: ours });
		expect(ourModel.calls.map((call) => call.request.input)).toEqual(memoryModel.calls.map((call) => call.request.input));
		expect(await ours.getItems()).toEqual(await memory.getItems());
		expect((await eventsOf(ours, "&includeRetracted=true")).filter((event) => event.retracted).length).toBe(7);
	});

	it("pops only the item it returns when appends race it", async () => {
		const ours = edgeSession();
		const note = (text: string) => ({ type: "message", role: "user", content: text }) as AgentInputItem;
		await ours.addItems([note("base 1"), note("base 2")]);
		for (let round = 0; round < 6; round++) {
			const before = await ours.getItems();
			const added = note(`raced ${round}`);
			const [popped] = await Promise.all([ours.popItem(), ours.addItems([added])]);
			// Either the pop came first and the append landed after it, or it popped the append.
			const expected = JSON.stringify(popped) === JSON.stringify(added) ? before : [...before.slice(0, -1), added];
			expect([before.at(-1), added]).toContainEqual(popped);
			expect(await ours.getItems()).toEqual(expected);
		}
	});

	it("applies history transactions as MemorySession does: once per operation id, refusing a stale suffix or a reused id", async () => {
		const memory = new MemorySession();
		const ours = edgeSession();
		const question = { type: "message", role: "user", content: "summarize" } as AgentInputItem;
		const draft = [assistantMessage("draft one"), assistantMessage("draft two")] as AgentInputItem[];
		const final = [assistantMessage("final")] as AgentInputItem[];
		const append: SessionHistoryTransactionArgs = { operationId: "op-append", transaction: { type: "append_items", items: [question, ...draft] } };
		const replace: SessionHistoryTransactionArgs = { operationId: "op-replace", transaction: { type: "replace_suffix", expectedSuffix: draft, replacement: final } };
		for (const session of [memory, ours]) {
			await session.applyHistoryTransaction(append);
			await session.applyHistoryTransaction(append);
			await session.applyHistoryTransaction(replace);
			// A retry after it committed: the suffix it replaced is gone, and it is still a success.
			await session.applyHistoryTransaction(replace);
		}
		expect(await ours.getItems()).toEqual(await memory.getItems());
		expect(await ours.getItems()).toEqual([question, ...final]);

		const before = (await callJson(`/v1/sessions/${await ours.getSessionId()}`)).body.version;
		const refusals: SessionHistoryTransactionArgs[] = [
			{ operationId: "op-stale", transaction: { type: "replace_suffix", expectedSuffix: draft, replacement: [] } },
			{ operationId: "op-append", transaction: { type: "append_items", items: final } },
			{ operationId: "op-replace", transaction: { type: "replace_suffix", expectedSuffix: final, replacement: draft } },
		];
		for (const refused of refusals) {
			const expected = await memory.applyHistoryTransaction(refused).catch((error: unknown) => error);
			expect(expected).toBeInstanceOf(UserError);
			await expect(ours.applyHistoryTransaction(refused)).rejects.toThrow(new UserError((expected as Error).message));
		}
		expect((await callJson(`/v1/sessions/${await ours.getSessionId()}`)).body.version).toBe(before);
		expect(await ours.getItems()).toEqual(await memory.getItems());
	});

	it("applies an append once per operation id even when it is retried days later, as MemorySession does", async () => {
		const memory = new MemorySession();
		const ours = edgeSession();
		const append: SessionHistoryTransactionArgs = { operationId: "op-late-retry", transaction: { type: "append_items", items: [assistantMessage("done")] as AgentInputItem[] } };
		await memory.applyHistoryTransaction(append);
		await ours.applyHistoryTransaction(append);
		// Three days pass and the server's forget job runs; then the runner retries the operation.
		const id = await ours.getSessionId();
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE idempotency SET created_at = created_at - ?", 3 * 24 * 3600 * 1000);
			state.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = 'forget_idempotency'", Date.now() - 1);
		});
		await runJobsUntilIdle(id);
		await memory.applyHistoryTransaction(append);
		await ours.applyHistoryTransaction(append);
		expect(await ours.getItems()).toEqual(await memory.getItems());
		expect(await ours.getItems()).toHaveLength(1);
	});

	it("persists the executed tool call of a run whose output a guardrail blocked, through the runner's history transaction, as MemorySession does", async () => {
		const script = readingTurn("call_g", "an unsafe draft");
		const histories = [];
		const ours = edgeSession();
		for (const session of [new MemorySession(), ours]) {
			const model = new ScriptedModel(script);
			await expect(run(researcher(model, { outputGuardrail: "blocks" }), "draft it", { session })).rejects.toBeInstanceOf(OutputGuardrailTripwireTriggered);
			histories.push(await session.getItems());
		}
		expect(histories[1]).toEqual(histories[0]);
		expect(histories[0].length).toBeGreaterThan(0);
		// The runner wrote them as a history transaction: the events carry its operation.
		const events = await eventsOf(ours);
		expect(events.length).toBe(histories[0].length);
		expect(events.every((event) => typeof event.metadata.operation === "string")).toBe(true);
	});

	it("keeps every item in order when items are added while compactions run, and replays the compacted history", async () => {
		const memory = new MemorySession();
		const ours = edgeSession({ create: { policy: { keepRecentEvents: 1 } } });
		const id = await ours.getSessionId();
		const message = (role: "user" | "assistant", text: string) => (role === "user" ? { type: "message", role, content: text } : assistantMessage(text)) as AgentInputItem;
		let adding = true;
		let compactions = 0;
		const compacting = (async () => {
			while (adding) {
				const answer = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
				if (answer.body.compacted) compactions++;
			}
		})();
		for (let round = 0; round < 8; round++) {
			const batch = [message("user", `question ${round}`), message("assistant", `answer ${round}`)];
			await Promise.all([memory.addItems(batch), ours.addItems(batch)]);
		}
		adding = false;
		await compacting;
		expect(compactions).toBeGreaterThan(0);
		// Compacted events are out of the hot log; the session reads them back from their archives.
		expect((await eventsOf(ours)).length).toBeLessThan(16);
		expect(await ours.getItems()).toStrictEqual(await memory.getItems());

		// Two appends racing each other each land whole, in some order.
		const left = [message("user", "left 1"), message("user", "left 2")];
		const right = [message("user", "right 1"), message("user", "right 2")];
		await Promise.all([ours.addItems(left), ours.addItems(right)]);
		const tail = (await ours.getItems(4)).map((item) => (item as { content: string }).content);
		expect([["left 1", "left 2", "right 1", "right 2"], ["right 1", "right 2", "left 1", "left 2"]]).toContainEqual(tail);
		await memory.addItems(tail[0] === "left 1" ? [...left, ...right] : [...right, ...left]);

		const script = [[assistantMessage("All of it.")]];
		expect(await runTurns(ours, script, ["What did we cover?"])).toEqual(await runTurns(memory, script, ["What did we cover?"]));
		expect(await ours.popItem()).toEqual(await memory.popItem());
		expect(await ours.getItems()).toEqual(await memory.getItems());
	});

	it("resumes a run interrupted for approval, from its serialized state, without duplicating the function call", async () => {
		const histories = [];
		const inputs = [];
		for (const session of [new MemorySession(), edgeSession()]) {
			const model = new ScriptedModel(readingTurn("call_7", "Approved and read."));
			const first = await run(researcher(model, { approval: true, outputGuardrail: "passes" }), "Read page 31", { session });
			expect(first.interruptions).toHaveLength(1);
			// A new process picks the run up: the state travels as a string.
			const state = await RunState.fromString(researcher(model, { approval: true, outputGuardrail: "passes" }), first.state.toString());
			state.approve(state.getInterruptions()[0]);
			const resumed = await run(researcher(model, { approval: true, outputGuardrail: "passes" }), state, { session });
			expect(resumed.finalOutput).toBe("Approved and read.");
			model.assertComplete();
			histories.push(await session.getItems());
			inputs.push(model.calls.map((call) => call.request.input));
		}
		expect(histories[1]).toEqual(histories[0]);
		expect(inputs[1]).toEqual(inputs[0]);
		expect(histories[1].filter((item) => item.type === "function_call")).toHaveLength(1);
		expect(histories[1].filter((item) => item.type === "function_call_result")).toHaveLength(1);
	});

	it("writes items once when a response is lost and the call is retried", async () => {
		let dropped = 0;
		const ours = edgeSession({
			fetch: async (input, init) => {
				const request = new Request(input, init);
				const response = await exports.default.fetch(request);
				if (request.method === "POST" && request.url.endsWith("/events") && dropped++ === 0) throw new TypeError("network connection lost");
				return response;
			},
		});
		await ours.addItems([{ type: "message", role: "user", content: "exactly once" }]);
		expect(dropped).toBe(2);
		expect(await ours.getItems()).toEqual([{ type: "message", role: "user", content: "exactly once" }]);
	});

	it("keeps an item appended while the runner replaces the history with a compaction", async () => {
		const raced = { type: "message", role: "user", content: "added by another process mid-compaction" } as AgentInputItem;
		// The other process's append lands between the compaction's read of the history and its write.
		const { ours, retracts } = racingSessions((other) => other.addItems([raced]));
		await ours.addItems([{ type: "message", role: "user", content: "old question" }, assistantMessage("old answer")]);
		// An input that starts with a compaction item: the runner replaces the stored history with the turn it starts.
		const compaction = { type: "compaction", encrypted_content: "summary of the old turns" } as AgentInputItem;
		const question = { type: "message", role: "user", content: "go on" } as AgentInputItem;
		const model = new ScriptedModel([[assistantMessage("Going on.")]]);
		await run(researcher(model), [compaction, question], { session: ours });
		expect(retracts()).toBeGreaterThan(0);
		// The turn (compaction, question, answer) replaced the old history; the append read after it is kept, after it.
		expect(await ours.getItems()).toEqual([compaction, question, assistantMessage("Going on."), raced]);
	});

	it("guards a compaction of more items than the API compares by the version it read, and still keeps a raced append", async () => {
		const raced = { type: "message", role: "user", content: "added while 1,001 items were being replaced" } as AgentInputItem;
		const { ours, retracts } = racingSessions((other) => other.addItems([raced]));
		const turns = Array.from({ length: 1001 }, (_, index) => ({ type: "message", role: "user", content: `turn ${index}` }) as AgentInputItem);
		for (let from = 0; from < turns.length; from += 500) await ours.addItems(turns.slice(from, from + 500));
		const compacted = [{ type: "compaction", encrypted_content: "summary of 1,001 turns" }] as AgentInputItem[];
		await ours.replaceHistoryWithCompaction(compacted);
		// The first write met a newer version (the raced append) and was refused whole; the second kept the append after the summary.
		expect(retracts()).toBe(2);
		expect(await ours.getItems()).toEqual([...compacted, raced]);
	});

	it("refuses a compaction replacement when the history it read lost an item meanwhile, and changes nothing", async () => {
		const { ours } = racingSessions((other) => other.popItem());
		await ours.addItems([{ type: "message", role: "user", content: "question" }, assistantMessage("answer")]);
		const compacted = [{ type: "compaction", encrypted_content: "summary" }] as AgentInputItem[];
		await expect(ours.replaceHistoryWithCompaction(compacted)).rejects.toBeInstanceOf(UserError);
		// Only the other process's pop happened.
		expect(await ours.getItems()).toEqual([{ type: "message", role: "user", content: "question" }]);
	});

	it("replaces the whole history with a compaction item and its suffix in one write", async () => {
		const ours = edgeSession();
		await ours.addItems([{ type: "message", role: "user", content: "old" }, assistantMessage("older answer")]);
		const before = (await callJson(`/v1/sessions/${await ours.getSessionId()}`)).body.version;
		const compacted = [{ type: "compaction", encrypted_content: "summary" }, { type: "message", role: "user", content: "kept" }] as AgentInputItem[];
		await ours.replaceHistoryWithCompaction(compacted);
		expect((await callJson(`/v1/sessions/${await ours.getSessionId()}`)).body.version).toBe(before + 1);
		expect(await ours.getItems()).toStrictEqual(compacted);
	});
});
