import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { callJson, createSession, newId, type RecordedQuery, recordQueries, sessionObject } from "./helpers";

/** Rows the session's SQLite reads from now on (cursor.rowsRead: what Durable Object SQLite bills). */
async function rowsReadFrom(id: string): Promise<() => Promise<number>> {
	const queries: RecordedQuery[] = [];
	await recordQueries(id, queries);
	// A cursor's figures are read inside the object that made it.
	return () => runInDurableObject(sessionObject(id), () => queries.reduce((sum, { cursor }) => sum + cursor.rowsRead, 0));
}

async function put(id: string, ns: string, key: string, value: unknown, pinned = false) {
	const result = await callJson(`/v1/sessions/${id}/state/${ns}/${key}`, { method: "PUT", body: { value, ...(pinned ? { pinned } : {}) } });
	expect(result.status).toBeLessThan(300);
}

async function link(thread: string, links: Record<string, string | null>) {
	return callJson(`/v1/sessions/${thread}`, { method: "PATCH", body: { links } });
}

async function userMemory(): Promise<string> {
	const user = await createSession({ id: newId("user"), body: { policy: { keepRecentEvents: 1 } } });
	await put(user, "profile", "language", "Prefers answers in German", true);
	await put(user, "history", "ticket-881", "Acme invoices failed in March: VAT field renamed");
	return user;
}

async function thread(): Promise<string> {
	const id = await createSession();
	await put(id, "task", "goal", "Fix the Acme invoice import", true);
	await callJson(`/v1/sessions/${id}/events`, {
		method: "POST",
		body: { events: Array.from({ length: 30 }, (_, index) => ({ type: "message", role: index % 2 ? "assistant" : "user", content: `turn ${index} ${"words ".repeat(10)}` })) },
	});
	return id;
}

describe("layered context", () => {
	it("puts a linked layer's pinned items, digest and summary after the thread's pinned items, labelled and within its share", async () => {
		const id = await thread();
		const user = await userMemory();
		await callJson(`/v1/sessions/${user}/events`, { method: "POST", body: { events: [1, 2, 3, 4].map((index) => ({ type: "note", content: `old conversation ${index}` })) } });
		const compacted = await callJson(`/v1/sessions/${user}/compact`, { method: "POST", body: { summary: "Earlier: the user had VAT trouble with Acme", upToSeq: 3 } });
		expect(compacted.body.compacted).toBe(true);
		const linked = await link(id, { user });
		expect(linked.status).toBe(200);
		expect(linked.body.links).toEqual({ user });
		await callJson(`/v1/sessions/${id}/workflows/import-fix`, { method: "PUT", body: { steps: [{ id: "patch", action: "patch the mapper" }] } });

		const { status, body, headers } = await callJson(`/v1/sessions/${id}/context?budget=800&layers=user`);
		expect(status).toBe(200);
		// The thread's version alone would be a false ETag for a window holding other sessions' items.
		expect(headers.get("etag")).toBeNull();
		expect(body.used).toBeLessThanOrEqual(800);
		expect(body.items[0]).toMatchObject({ kind: "pinned_state", ns: "task", key: "goal" });
		expect(body.items[0].source).toBeUndefined();
		const fromUser = body.items.filter((item: { source?: unknown }) => item.source);
		expect(fromUser.map((item: { kind: string }) => item.kind)).toEqual(["pinned_state", "state_digest", "summary"]);
		expect(fromUser[2].content).toContain("VAT trouble");
		expect(fromUser.every((item: { source: unknown }) => JSON.stringify(item.source) === JSON.stringify({ layer: "user", sessionId: user }))).toBe(true);
		expect(fromUser[1].content).toContain("ticket-881");
		expect(body.items.indexOf(fromUser[0])).toBe(1);
		expect(body.items.some((item: { kind: string }) => item.kind === "work_status")).toBe(true);
		expect(body.layers).toEqual([expect.objectContaining({ layer: "user", sessionId: user, budget: 200, omitted: 0 })]);
		expect(body.layers[0].used).toBeLessThanOrEqual(200);
		// Without ?layers the window is the thread's alone.
		const plain = await callJson(`/v1/sessions/${id}/context?budget=600`);
		expect(plain.body.items.some((item: { source?: unknown }) => item.source)).toBe(false);
		expect(plain.headers.get("etag")).toBe(`"${plain.body.version}"`);
	});

	it("stays within budget however large a layer grows: the layer is cut to its share, and says what it left out", async () => {
		const id = await thread();
		const big = await createSession();
		for (let index = 0; index < 40; index++) await put(big, "facts", `fact-${index}`, `a long remembered fact number ${index} ${"detail ".repeat(20)}`, index < 10);
		const org = await userMemory();
		await link(id, { memory: big, org });
		for (const budget of [300, 1000, 4000]) {
			const { body } = await callJson(`/v1/sessions/${id}/context?budget=${budget}&layers=all&layerShare=0.5`);
			expect(body.used).toBeLessThanOrEqual(budget);
			const share = Math.floor((budget * 0.5) / 2);
			for (const use of body.layers) {
				expect(use.budget).toBe(share);
				expect(use.used).toBeLessThanOrEqual(share);
			}
			const memory = body.layers.find((use: { layer: string }) => use.layer === "memory");
			expect(memory.omitted).toBeGreaterThan(0);
			const layerTokens = body.items.filter((item: { source?: unknown }) => item.source).reduce((sum: number, item: { tokens: number }) => sum + item.tokens, 0);
			expect(layerTokens).toBeLessThanOrEqual(budget * 0.5);
		}
	});

	it("serves the thread when a layer is gone, and refuses layers the request cannot use", async () => {
		const id = await thread();
		const user = await userMemory();
		await link(id, { user });
		expect((await callJson(`/v1/sessions/${user}`, { method: "DELETE" })).status).toBe(200);
		const served = await callJson(`/v1/sessions/${id}/context?budget=500&layers=user`);
		expect(served.status).toBe(200);
		expect(served.body.layers).toEqual([expect.objectContaining({ layer: "user", unavailable: "session_deleted", used: 0 })]);

		expect((await callJson(`/v1/sessions/${id}/context?budget=500&layers=org`)).status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}/context?budget=500&layers=user&at=1`)).status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}/context?budget=500&layers=USER`)).status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}/context?budget=500&layers=user&layerShare=2`)).status).toBe(400);

		const other = await userMemory();
		await link(id, { user: other });
		const token = (await callJson("/v1/tokens", { method: "POST", body: { scopes: { operations: ["read"], sessions: [id] } } })).body.token;
		const refused = await callJson(`/v1/sessions/${id}/context?budget=500&layers=user`, { key: token });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("session_out_of_scope");
		expect((await callJson(`/v1/sessions/${id}/context?budget=500`, { key: token })).status).toBe(200);
	});

	it("validates links: no self link, at most 8 layers, null removes one", async () => {
		const id = await thread();
		const self = await link(id, { me: id });
		expect(self.status).toBe(400);
		const many = Object.fromEntries(Array.from({ length: 9 }, (_, index) => [`l${index}`, newId()]));
		expect((await link(id, many)).status).toBe(400);
		expect((await link(id, { "Bad Name": newId() })).status).toBe(400);
		const user = newId();
		await link(id, { user, org: newId() });
		const removed = await link(id, { org: null });
		expect(removed.body.links).toEqual({ user });
	});

	it("reads rows in proportion to its share, not to how much the layer pinned", async () => {
		const measure = async (pinned: number) => {
			const id = await thread();
			const memory = await createSession();
			for (let from = 0; from < pinned; from += 500) {
				const events = Array.from({ length: Math.min(500, pinned - from) }, (_, index) => ({ type: "note", pinned: true, content: `pinned fact ${from + index} ${"detail ".repeat(10)}` }));
				expect((await callJson(`/v1/sessions/${memory}/events`, { method: "POST", body: { events } })).status).toBe(201);
			}
			await link(id, { memory });
			const rowsRead = await rowsReadFrom(memory);
			const { body } = await callJson(`/v1/sessions/${id}/context?budget=600&layers=memory`);
			expect(body.layers[0].used).toBeLessThanOrEqual(150);
			return { rows: await rowsRead(), omitted: body.layers[0].omitted, items: body.items.filter((item: { source?: unknown }) => item.source).length };
		};
		const few = await measure(10);
		const many = await measure(2000);
		expect(many.items).toBe(few.items);
		expect(few.omitted).toBe(10 - few.items);
		// What a layer leaves out is counted up to 100 items past what it took: counting reads rows too.
		expect(many.omitted).toBe(100);
		// Each pinned event costs about two rows (the event and its retraction check): reading all
		// 2,000 would be some 4,000; the cut and the bounded count stay near 250.
		expect(many.rows).toBeLessThan(few.rows + 300);
	});

	it("lets a credential link only sessions it could read itself, with every namespace", async () => {
		const id = await thread();
		const victim = await userMemory();
		const narrow = (await callJson("/v1/tokens", { method: "POST", body: { scopes: { operations: ["read", "write"], sessions: [id] } } })).body.token;
		const refused = await callJson(`/v1/sessions/${id}`, { method: "PATCH", key: narrow, body: { links: { user: victim } } });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("session_out_of_scope");
		const namespaced = (await callJson("/v1/tokens", { method: "POST", body: { scopes: { operations: ["read", "write"], namespaces: ["task"] } } })).body.token;
		expect((await callJson(`/v1/sessions/${id}`, { method: "PATCH", key: namespaced, body: { links: { user: victim } } })).status).toBe(403);
		expect((await callJson(`/v1/sessions/${id}`)).body.links).toEqual({});
	});
});
