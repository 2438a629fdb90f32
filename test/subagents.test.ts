import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { SessionObject } from "../src/session/session-object";
import { describe, expect, it } from "vitest";
import { SYSTEM_CALLER } from "../src/auth/scopes";
import { callJson, createSession, newId, sessionObject, waitFor } from "./helpers";

const resultSchema = {
	type: "object",
	required: ["vendor", "changed"],
	properties: { vendor: { type: "string" }, changed: { type: "array", items: { type: "string" } } },
	additionalProperties: false,
};

async function parentWithContext(): Promise<string> {
	const id = await createSession({ body: { agent: "orchestrator", subject: "customer-7" } });
	await callJson(`/v1/sessions/${id}/events`, {
		method: "POST",
		body: {
			events: [
				{ type: "message", role: "user", content: "Why are Acme invoices rejected?" },
				{ type: "decision", content: "ask a subagent to diff the vendor schema" },
				{ type: "note", content: "an old note ".repeat(200) },
				{ type: "message", role: "assistant", content: "Starting a schema diff" },
			],
		},
	});
	return id;
}

async function start(parent: string, extra: Record<string, unknown> = {}) {
	return callJson(`/v1/sessions/${parent}/subagents`, {
		method: "POST",
		body: { agent: "differ", task: "Diff Acme's invoice schema", contextMaxTokens: 120, resultSchema, maxResultTokens: 200, timeoutSeconds: 600, ...extra },
	});
}

async function eventsOf(id: string, types: string) {
	return (await callJson(`/v1/sessions/${id}/events?types=${types}`)).body.events as Array<Record<string, any>>;
}

describe("subagents", () => {
	it("seeds the child with the task and a bounded slice of the parent, and records a valid result in the parent once", async () => {
		const parent = await parentWithContext();
		const started = await start(parent);
		expect(started.status).toBe(201);
		const child = started.body.id as string;
		expect(started.body).toMatchObject({ parentId: parent, agent: "differ", status: "running", maxResultTokens: 200 });

		const seeded = (await callJson(`/v1/sessions/${child}/events?limit=100`)).body.events;
		expect(seeded[0]).toMatchObject({ seq: 1, type: "subagent_task", pinned: true, content: { task: "Diff Acme's invoice schema", parentId: parent } });
		const slice = seeded.slice(1);
		expect(slice.length).toBeGreaterThan(0);
		expect(slice.every((event: { metadata: { from: string } }) => event.metadata.from === parent)).toBe(true);
		expect(slice.reduce((sum: number, event: { tokens: number }) => sum + event.tokens, 0)).toBeLessThanOrEqual(120);
		expect(slice.at(-1).content).toBe("Starting a schema diff");
		expect(JSON.stringify(slice)).not.toContain("an old note");
		// The child inherits the subject: an erasure by subject reaches it.
		expect((await callJson(`/v1/sessions/${child}`)).body.subject).toBe("customer-7");

		const invalid = await callJson(`/v1/sessions/${child}/result`, { method: "POST", body: { result: { vendor: 7, extra: true } } });
		expect(invalid.status).toBe(422);
		expect(invalid.body.error.code).toBe("result_invalid");
		const paths = invalid.body.error.details.errors.map((error: { path: string }) => error.path);
		expect(paths).toContain("/vendor");
		const tooLarge = await callJson(`/v1/sessions/${child}/result`, { method: "POST", body: { result: { vendor: "acme", changed: Array.from({ length: 200 }, (_, index) => `field_${index}`) } } });
		expect(tooLarge.status).toBe(422);
		expect(tooLarge.body.error.code).toBe("result_too_large");
		expect((await callJson(`/v1/sessions/${child}/subagent`)).body.status).toBe("running");

		const answered = await callJson(`/v1/sessions/${child}/result`, { method: "POST", body: { result: { vendor: "acme", changed: ["vat_id → tax_id"] } } });
		expect(answered.status).toBe(200);
		expect(answered.body).toMatchObject({ status: "completed", result: { vendor: "acme" } });
		const recorded = await eventsOf(parent, "subagent_result");
		expect(recorded).toHaveLength(1);
		expect(recorded[0].metadata).toMatchObject({ subagent: child, agent: "differ", status: "completed" });
		expect(recorded[0].content.result).toEqual({ vendor: "acme", changed: ["vat_id → tax_id"] });

		// Closed: the child takes no more writes, and its report timer changes nothing in the parent.
		const late = await callJson(`/v1/sessions/${child}/events`, { method: "POST", body: { events: [{ type: "note", content: "more" }] } });
		expect(late.status).toBe(409);
		expect(late.body.error.code).toBe("session_closed");
		expect((await callJson(`/v1/sessions/${child}/result`, { method: "POST", body: { result: { vendor: "x", changed: [] } } })).status).toBe(409);
		await runDurableObjectAlarm(sessionObject(child));
		await runDurableObjectAlarm(sessionObject(child));
		expect(await eventsOf(parent, "subagent_result")).toHaveLength(1);

		const lineage = (await callJson(`/v1/sessions/${parent}/lineage`)).body;
		expect(lineage.links).toEqual([expect.objectContaining({ kind: "subagent", from: parent, to: child, status: "completed" })]);
		expect(lineage.sessions.find((node: { id: string }) => node.id === child).closed).toBe("completed");
	});

	it("times a silent child out by its deadline timer and tells the parent with an event", async () => {
		const parent = await parentWithContext();
		const child = (await start(parent, { timeoutSeconds: 1, contextMaxTokens: 0 })).body.id as string;
		expect((await callJson(`/v1/sessions/${parent}/lineage`)).body.links[0]).toMatchObject({ kind: "subagent", status: "running" });
		await new Promise((resolve) => setTimeout(resolve, 1100));
		// Past the deadline a result is refused even before the timer has run.
		const late = await callJson(`/v1/sessions/${child}/result`, { method: "POST", body: { result: { vendor: "acme", changed: [] } } });
		expect(late.status).toBe(409);
		const timedOut = await waitFor("the parent's timeout event", async () => {
			await runDurableObjectAlarm(sessionObject(child));
			const events = await eventsOf(parent, "subagent_timeout");
			return events.length > 0 && events;
		});
		expect(timedOut).toHaveLength(1);
		expect(timedOut[0].metadata).toMatchObject({ subagent: child, status: "timed_out" });
		expect((await callJson(`/v1/sessions/${child}/subagent`)).body.status).toBe("timed_out");
		expect((await callJson(`/v1/sessions/${child}`)).body.closed).toMatchObject({ reason: "timed_out" });
		await runDurableObjectAlarm(sessionObject(child));
		expect(await eventsOf(parent, "subagent_timeout")).toHaveLength(1);
		expect(await eventsOf(parent, "subagent_result")).toHaveLength(0);
	});

	it("delivers the outcome through the child's report timer when the Worker could not tell the parent", async () => {
		const parent = await parentWithContext();
		const child = (await start(parent, { contextMaxTokens: 0 })).body.id as string;
		// The child records its answer, and nothing tells the parent (as when the Worker fails right after).
		const submitted: any = await sessionObject(child).submitResult(SYSTEM_CALLER, { result: { vendor: "acme", changed: [] } }, {});
		expect(submitted.ok).toBe(true);
		expect(await eventsOf(parent, "subagent_result")).toHaveLength(0);
		await runDurableObjectAlarm(sessionObject(child));
		await waitFor("the parent's result event", async () => (await eventsOf(parent, "subagent_result")).length === 1);
	});

	it("keeps reporting to a parent that fails for longer than timers retry, and never parks the report", async () => {
		const parent = await parentWithContext();
		const child = (await start(parent, { contextMaxTokens: 0 })).body.id as string;
		let failing = true;
		await runInDurableObject(sessionObject(child), (instance: SessionObject) => {
			const reach = instance.dependencies.peer;
			// A fault-injecting wrapper of the real binding: the parent's object is unreachable while `failing`.
			instance.dependencies.peer = (tenant, id) => {
				const real = reach(tenant, id);
				return new Proxy(real, {
					get: (target, property) =>
						property === "recordSubagentOutcome" && failing ? () => Promise.reject(new Error("parent unreachable")) : Reflect.get(target, property),
				});
			};
		});
		const submitted: any = await sessionObject(child).submitResult(SYSTEM_CALLER, { result: { vendor: "acme", changed: [] } }, {});
		expect(submitted.ok).toBe(true);
		for (let attempt = 0; attempt < 12; attempt++) await runDurableObjectAlarm(sessionObject(child));
		expect(await eventsOf(parent, "subagent_result")).toHaveLength(0);
		expect((await callJson(`/v1/sessions/${child}`)).body.deadLetters).toEqual([]);
		failing = false;
		await waitFor("the parent's result event", async () => {
			await runDurableObjectAlarm(sessionObject(child));
			return (await eventsOf(parent, "subagent_result")).length === 1;
		});
	});

	it("lets a token scoped to the child alone answer, and the parent still records it", async () => {
		const parent = await parentWithContext();
		const child = (await start(parent, { contextMaxTokens: 0 })).body.id as string;
		const token = (await callJson("/v1/tokens", { method: "POST", body: { scopes: { operations: ["read", "write"], sessions: [child] } } })).body.token as string;
		expect((await callJson(`/v1/sessions/${parent}/events`, { key: token })).status).toBe(403);
		const answered = await callJson(`/v1/sessions/${child}/result`, { method: "POST", key: token, body: { result: { vendor: "acme", changed: ["a"] } } });
		expect(answered.status).toBe(200);
		expect(await eventsOf(parent, "subagent_result")).toHaveLength(1);
	});

	it("refuses bad input with 4xx and creates nothing: a schema that is not one, a session not started as a subagent, retries with a key make one child", async () => {
		const parent = await parentWithContext();
		const childId = newId();
		const unusable = [
			{ type: "strnig" },
			{ properties: { a: 5 } },
			{ required: "a" },
			{ $ref: "https://example.com/schema.json" },
			// These two pass a validate(null) and would only throw on a result: they must fail at the start.
			{ type: "string", pattern: "(" },
			{ type: "object", properties: { a: { $ref: "#/$defs/missing" } } },
			{ patternProperties: { "[": { type: "string" } } },
		];
		for (const schema of unusable) {
			const refused = await start(parent, { id: childId, resultSchema: schema });
			expect(refused.status).toBe(422);
			expect(refused.body.error.code).toBe("schema_invalid");
		}
		expect((await callJson(`/v1/sessions/${childId}`)).status).toBe(404);
		const plain = await createSession();
		const notChild = await callJson(`/v1/sessions/${plain}/result`, { method: "POST", body: { result: {} } });
		expect(notChild.status).toBe(422);
		expect(notChild.body.error.code).toBe("not_a_subagent");
		expect((await start(parent, { timeoutSeconds: 0 })).status).toBe(400);
		expect((await start(newId())).status).toBe(404);

		const keyed = { method: "POST", headers: { "idempotency-key": "start-once" }, body: { task: "t", contextMaxTokens: 50, resultSchema, maxResultTokens: 50, timeoutSeconds: 60 } };
		const first = await callJson(`/v1/sessions/${parent}/subagents`, keyed);
		const again = await callJson(`/v1/sessions/${parent}/subagents`, keyed);
		expect(again.body.id).toBe(first.body.id);
		expect(again.headers.get("idempotent-replayed")).toBe("true");
		expect((await callJson(`/v1/sessions/${parent}/lineage`)).body.links.filter((link: { kind: string }) => link.kind === "subagent")).toHaveLength(1);
		// The same key from another parent starts that parent's own child.
		const otherParent = await parentWithContext();
		const other = await callJson(`/v1/sessions/${otherParent}/subagents`, keyed);
		expect(other.status).toBe(201);
		expect(other.body).toMatchObject({ parentId: otherParent });
		expect(other.body.id).not.toBe(first.body.id);
	});

	it("refuses to start a child of a paused parent before the child exists, and slices a parent whose pinned items exceed the slice", async () => {
		const parent = await parentWithContext();
		expect((await callJson(`/v1/sessions/${parent}/pause`, { method: "POST", body: { reason: "review" } })).status).toBe(200);
		const childId = newId();
		const refused = await start(parent, { id: childId });
		expect(refused.status).toBe(423);
		expect((await callJson(`/v1/sessions/${childId}`)).status).toBe(404);
		await callJson(`/v1/sessions/${parent}/resume`, { method: "POST", body: {} });

		await callJson(`/v1/sessions/${parent}/state/brief/handoff`, { method: "PUT", body: { value: "a long pinned brief ".repeat(100), pinned: true } });
		const sliced = await start(parent, { contextMaxTokens: 100 });
		expect(sliced.status).toBe(201);
		const seeded = (await callJson(`/v1/sessions/${sliced.body.id}/events`)).body.events;
		expect(seeded.slice(1).reduce((sum: number, event: { tokens: number }) => sum + event.tokens, 0)).toBeLessThanOrEqual(100);
	});
});
