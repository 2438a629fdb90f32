import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession } from "./helpers";

async function windowOf(id: string, query: string) {
	return callJson(`/v1/sessions/${id}/context?${query}`);
}

describe("context window", () => {
	it("puts pinned items first, then the state digest, then the newest events in order, within the budget", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: "ship v2", pinned: true } });
		await callJson(`/v1/sessions/${id}/state/progress/pages`, { method: "PUT", body: { value: 30 } });
		await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "note", content: "Always cite sources", pinned: true }, ...appendBody(10).events] },
		});
		const window = await windowOf(id, "budget=10000");
		expect(window.status).toBe(200);
		const kinds = window.body.items.map((item: { kind: string }) => item.kind);
		expect(kinds.slice(0, 3)).toEqual(["pinned_state", "pinned_event", "state_digest"]);
		expect(window.body.items[0]).toMatchObject({ ns: "task", key: "goal", content: "ship v2" });
		expect(window.body.items[1]).toMatchObject({ seq: 1, content: "Always cite sources" });
		expect(window.body.items[2].content).toBe("progress/pages: 30");
		const seqs = window.body.items.filter((item: { kind: string }) => item.kind === "event").map((item: { seq: number }) => item.seq);
		expect(seqs).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
		const sum = window.body.items.reduce((total: number, item: { tokens: number }) => total + item.tokens, 0);
		expect(window.body.used).toBe(sum);
		expect(window.body).toMatchObject({ version: 4, budget: 10000, omitted: [] });
		expect(window.body.utilization).toBeCloseTo(sum / 10000, 3);
	});

	it("takes a contiguous tail of the newest events when the budget is small and says what it left out", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(50, (index) => `event number ${index}`) });
		const all = await windowOf(id, "budget=100000");
		const perEvent = all.body.items[0].tokens;
		const window = await windowOf(id, `budget=${perEvent * 5}`);
		const seqs = window.body.items.map((item: { seq: number }) => item.seq);
		expect(seqs).toEqual([46, 47, 48, 49, 50]);
		expect(window.body.used).toBeLessThanOrEqual(perEvent * 5);
		expect(window.body.omitted).toEqual([{ kind: "event", reason: "budget", beforeSeq: 46 }]);
	});

	it("answers 422 budget_too_small when the pinned items alone exceed the budget, never a truncated window", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "decision", content: "a long pinned rule ".repeat(20), pinned: true }] } });
		const window = await windowOf(id, "budget=10");
		expect(window.status).toBe(422);
		expect(window.body.error.code).toBe("budget_too_small");
		expect(window.body.error.details.pinnedTokens).toBeGreaterThan(10);
	});

	it("shows large content as a reference whose preview is what counts against the budget", async () => {
		const id = await createSession();
		const appended = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "tool_result", name: "fetch", content: "page text ".repeat(5000) }] },
		});
		const window = await windowOf(id, "budget=5000");
		const [item] = window.body.items;
		expect(item.content).toBeUndefined();
		expect(item.contentRef.sha256).toBe(appended.body.events[0].contentRef.sha256);
		expect(item.tokens).toBeLessThan(200);
		expect(appended.body.events[0].tokens).toBeGreaterThan(5000);
	});

	it("filters events by type and state by namespace", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/a/x`, { method: "PUT", body: { value: 1 } });
		await callJson(`/v1/sessions/${id}/state/b/y`, { method: "PUT", body: { value: 2 } });
		await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "decision", content: "d" }, { type: "note", content: "n" }, { type: "error", content: "e" }] },
		});
		const window = await windowOf(id, "budget=1000&types=decision,error&namespaces=b");
		expect(window.body.items.map((item: { kind: string; type?: string; content?: unknown }) => item.type ?? item.content)).toEqual([
			"b/y: 2",
			"decision",
			"error",
		]);
	});

	it("prefers the provider's reported input tokens to its own estimate for the context size", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "message", role: "assistant", content: "ok", usage: { inputTokens: 42_000, outputTokens: 3 } }] },
		});
		const session = await callJson(`/v1/sessions/${id}`);
		expect(session.body.tokens).toMatchObject({ reportedInput: 42_000, context: 42_000 });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "hello world" }] } });
		expect((await callJson(`/v1/sessions/${id}`)).body.tokens.context).toBe(42_002);
	});

	it("counts tokens with the session's own encoding", async () => {
		const o200k = await createSession();
		const cl100k = await createSession({ body: { policy: { tokenizer: "cl100k_base" } } });
		const text = "Größenverhältnisse der Durchführungsbestimmungen";
		const counts = await Promise.all(
			[o200k, cl100k].map(async (id) => (await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: text }] } })).body.events[0].tokens),
		);
		expect(counts[0]).not.toBe(counts[1]);
	});
});
