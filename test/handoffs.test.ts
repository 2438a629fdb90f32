import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newSessionId } from "../src/operations/session-ids";
import { SYSTEM_CALLER } from "../src/auth/scopes";
import { call, callJson, createSession, newId, runJobsUntilIdle, sessionObject } from "./helpers";

async function append(id: string, ...events: Array<Record<string, unknown>>) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } });
	expect(result.status).toBe(201);
}

async function eventsOf(id: string, types?: string) {
	return (await callJson(`/v1/sessions/${id}/events?limit=1000${types ? `&types=${types}` : ""}`)).body.events as Array<Record<string, any>>;
}

async function triage(): Promise<string> {
	const id = await createSession({ body: { agent: "triage", subject: "customer-42" } });
	await append(
		id,
		{ type: "message", role: "user", content: "Invoices from Acme are rejected since Monday" },
		{ type: "decision", content: "route to research: looks like a schema change at the vendor" },
		{ type: "error", content: "vendor API answered 422 on invoice 991" },
		{ type: "tool_result", name: "lookup", content: "a long tool output nobody downstream needs ".repeat(20) },
	);
	await callJson(`/v1/sessions/${id}/state/ticket/priority`, { method: "PUT", body: { value: "high" } });
	await callJson(`/v1/sessions/${id}/state/scratch/notes`, { method: "PUT", body: { value: "not for the next agent" } });
	return id;
}

describe("handoffs", () => {
	it("passes a bounded package A→B→C, pinned first in each target, and lineage traces the chain from any end", async () => {
		const a = await triage();
		const first = await callJson(`/v1/sessions/${a}/handoffs`, {
			method: "POST",
			body: { to: { agent: "research" }, task: "Find what changed in Acme's invoice API", include: { stateNamespaces: ["ticket"], maxTokens: 2000 } },
		});
		expect(first.status).toBe(201);
		const b = first.body.to.sessionId as string;
		expect(first.body.to.created).toBe(true);
		const handoff = first.body.package;
		expect(handoff.tokens).toBeLessThanOrEqual(2000);
		expect(handoff.from).toMatchObject({ sessionId: a, agent: "triage" });
		expect(handoff.decisions.map((decision: { type: string }) => decision.type).sort()).toEqual(["decision", "error"]);
		expect(handoff.state).toEqual([{ ns: "ticket", key: "priority", value: "high" }]);
		expect(JSON.stringify(handoff.decisions)).not.toContain("nobody downstream");
		expect(handoff.summary).toContain("Invoices from Acme");

		// The target starts with the package, pinned: it is the first item of its window.
		const target = await callJson(`/v1/sessions/${b}`);
		// A new target inherits the subject: an erasure by subject reaches the copy the package made.
		expect(target.body).toMatchObject({ agent: "research", subject: "customer-42", version: 1, eventCount: 1 });
		const window = (await callJson(`/v1/sessions/${b}/context?budget=4000`)).body;
		expect(window.items[0]).toMatchObject({ kind: "pinned_event", seq: 1, type: "handoff_in" });
		expect(window.items[0].content.task).toBe("Find what changed in Acme's invoice API");
		const out = await eventsOf(a, "handoff_out");
		expect(out).toHaveLength(1);
		expect(out[0].content).toMatchObject({ handoffId: handoff.handoffId, to: { agent: "research", sessionId: b } });

		// B hands on to an existing session C: appended there, not created.
		const c = await createSession({ body: { agent: "resolution", subject: "customer-42" } });
		await append(c, { type: "note", content: "resolution queue ready" });
		await append(b, { type: "decision", content: "Acme renamed field vat_id to tax_id" });
		const second = await callJson(`/v1/sessions/${b}/handoffs`, { method: "POST", body: { to: { agent: "resolution", sessionId: c }, task: "Patch the invoice mapper" } });
		expect(second.status).toBe(201);
		expect(second.body.to).toMatchObject({ sessionId: c, created: false });
		expect(second.body.package.decisions.map((decision: { content: string }) => decision.content)).toContain("Acme renamed field vat_id to tax_id");
		const arrived = await eventsOf(c, "handoff_in");
		expect(arrived).toHaveLength(1);
		expect(arrived[0].pinned).toBe(true);

		for (const from of [a, b, c]) {
			const lineage = (await callJson(`/v1/sessions/${from}/lineage`)).body;
			expect(lineage.sessions.map((node: { id: string }) => node.id).sort()).toEqual([a, b, c].sort());
			expect(lineage.links.map((link: { kind: string; from: string; to: string }) => `${link.kind} ${link.from}>${link.to}`)).toEqual([`handoff ${a}>${b}`, `handoff ${b}>${c}`]);
		}
	});

	it("traces forks in lineage too: the fork names its parent, and the parent finds its forks through the index", async () => {
		const a = await triage();
		const fork = await callJson(`/v1/sessions/${a}/fork`, { method: "POST", body: { id: newId("fork") } });
		expect(fork.status).toBe(201);
		const fromFork = (await callJson(`/v1/sessions/${fork.body.id}/lineage`)).body;
		expect(fromFork.links).toEqual([expect.objectContaining({ kind: "fork", from: a, to: fork.body.id })]);
		await runJobsUntilIdle(fork.body.id);
		const fromParent = (await callJson(`/v1/sessions/${a}/lineage`)).body;
		expect(fromParent.sessions.map((node: { id: string }) => node.id).sort()).toEqual([a, fork.body.id].sort());
		expect(fromParent.links).toEqual([expect.objectContaining({ kind: "fork", from: a, to: fork.body.id })]);
	});

	it("traces a session created with parentId as a parent link, and a handoff target's parent by its handoff alone", async () => {
		const a = await triage();
		const child = await createSession({ body: { parentId: a } });
		const fromChild = (await callJson(`/v1/sessions/${child}/lineage`)).body;
		expect(fromChild.links).toEqual([expect.objectContaining({ kind: "parent", from: a, to: child })]);
		const handedTo = newId("research");
		const handoff = await callJson(`/v1/sessions/${child}/handoffs`, { method: "POST", body: { to: { agent: "research", sessionId: handedTo }, task: "go on" } });
		expect(handoff.status).toBe(201);
		await runJobsUntilIdle(child);
		const fromParent = (await callJson(`/v1/sessions/${a}/lineage`)).body;
		expect(fromParent.sessions.map((node: { id: string }) => node.id).sort()).toEqual([a, child, handedTo].sort());
		expect(fromParent.links.map((link: { kind: string; from: string; to: string }) => `${link.kind} ${link.from}>${link.to}`)).toEqual([`parent ${a}>${child}`, `handoff ${child}>${handedTo}`]);
	});

	it("refuses a package whose task does not fit maxTokens with 422, and touches neither side", async () => {
		const a = await triage();
		const before = (await callJson(`/v1/sessions/${a}`)).body.version;
		const target = newId();
		const refused = await callJson(`/v1/sessions/${a}/handoffs`, {
			method: "POST",
			body: { to: { agent: "research", sessionId: target }, task: "investigate ".repeat(200), include: { maxTokens: 100 } },
		});
		expect(refused.status).toBe(422);
		expect(refused.body.error.code).toBe("budget_too_small");
		expect(refused.body.error.details.requiredTokens).toBeGreaterThan(100);
		expect((await callJson(`/v1/sessions/${target}`)).status).toBe(404);
		expect((await callJson(`/v1/sessions/${a}`)).body.version).toBe(before);
	});

	it("cuts optional parts to the budget at every size and counts what it left out, beyond what it read", async () => {
		const a = await createSession();
		for (let batch = 0; batch < 3; batch++) {
			await append(a, ...Array.from({ length: 100 }, (_, index) => ({ type: "decision", content: `decision ${batch * 100 + index}: ${"because of a detail ".repeat(5)}` })));
		}
		for (let batch = 0; batch < 2; batch++) {
			await callJson(`/v1/sessions/${a}/state/facts/k${batch}`, { method: "PUT", body: { value: "a fact ".repeat(30) } });
		}
		for (let maxTokens = 200; maxTokens <= 1500; maxTokens += 59) {
			const { status, body } = await callJson(`/v1/sessions/${a}/handoffs`, {
				method: "POST",
				body: { to: { agent: "next" }, task: "go on", include: { summary: false, stateNamespaces: ["facts"], maxTokens } },
			});
			expect(status).toBe(201);
			const encoded = JSON.stringify(body.package);
			expect(body.package.tokens).toBeLessThanOrEqual(maxTokens);
			// A token is at least one character of JSON: the package cannot hide a larger size behind its own count.
			expect(encoded.length).toBeLessThanOrEqual(maxTokens * 8);
			const omitted = body.package.omitted.find((entry: { part: string }) => entry.part === "decisions");
			expect(omitted.count + body.package.decisions.length).toBe(300);
			if (body.package.decisions.length > 0) expect(body.package.decisions[0].content).toMatch(/^decision 299/);
		}
	});

	it("refuses to copy one subject's context into an existing session of another (an erasure would miss it)", async () => {
		const a = await triage();
		const other = await createSession({ body: { subject: "customer-7" } });
		const refused = await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "x", sessionId: other }, task: "t" } });
		expect(refused.status).toBe(409);
		expect(refused.body.error.code).toBe("subject_mismatch");
		expect(await eventsOf(other, "handoff_in")).toHaveLength(0);
		expect(await eventsOf(a, "handoff_out")).toHaveLength(0);
	});

	it("hands over open work (workflow steps, pending approvals) and where compacted events are archived", async () => {
		const a = await createSession({ body: { agent: "triage", policy: { keepRecentEvents: 1 } } });
		await append(a, ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((index) => ({ type: "note", content: `old note ${index}` })));
		const compacted = await callJson(`/v1/sessions/${a}/compact`, { method: "POST", body: { summary: "Earlier: notes about Acme", upToSeq: 8 } });
		expect(compacted.body).toMatchObject({ compacted: true });
		await callJson(`/v1/sessions/${a}/workflows/fix-import`, { method: "PUT", body: { steps: [{ id: "patch", action: "patch the VAT mapper" }] } });
		const approval = await callJson(`/v1/sessions/${a}/approvals`, { method: "POST", body: { title: "Refund Acme", summary: "Two invoices double-charged", requestedBy: "triage" } });
		expect(approval.status).toBe(201);

		const { status, body } = await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "research" }, task: "finish the fix" } });
		expect(status).toBe(201);
		const openItems = body.package.openItems.join("\n");
		expect(openItems).toContain("patch the VAT mapper");
		expect(openItems).toContain("Refund Acme");
		const archive = body.package.refs.find((ref: { kind: string }) => ref.kind === "archive");
		expect(archive).toMatchObject({ sessionId: a, fromSeq: 1, toSeq: 8 });
		expect(archive.events).toBeGreaterThan(0);
		// The archive reference reads back: the compacted events come from R2 through the source.
		const archived = await callJson(`/v1/sessions/${a}/events?after=${archive.fromSeq - 1}&limit=${archive.toSeq}&includeArchived=true`);
		expect(archived.body.events.map((event: { seq: number }) => event.seq)).toContain(archive.toSeq);
	});

	it("carries large content as references to the source, not inline", async () => {
		const a = await createSession();
		const large = "x".repeat(20_000);
		await append(a, { type: "decision", content: large });
		const { status, body } = await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "next" }, task: "review" } });
		expect(status).toBe(201);
		expect(JSON.stringify(body.package).length).toBeLessThan(5_000);
		const ref = body.package.refs.find((entry: { kind: string }) => entry.kind === "blob");
		expect(ref).toMatchObject({ sessionId: a, seq: 1 });
		const blob = await call(`/v1/sessions/${a}/blobs/${ref.sha256}`);
		expect(blob.status).toBe(200);
		expect((await blob.text()).length).toBe(JSON.stringify(large).length);
	});

	it("with an Idempotency-Key creates one target and one event on each side, and finishes a handoff that stopped half way", async () => {
		const a = await triage();
		const request = { method: "POST", body: { to: { agent: "research" }, task: "retry me" }, headers: { "idempotency-key": "handoff-retry-1" } };
		const first = await callJson(`/v1/sessions/${a}/handoffs`, request);
		const again = await callJson(`/v1/sessions/${a}/handoffs`, request);
		expect(first.status).toBe(201);
		expect(again.status).toBe(201);
		expect(again.headers.get("idempotent-replayed")).toBe("true");
		expect(again.body.to.sessionId).toBe(first.body.to.sessionId);
		expect(await eventsOf(first.body.to.sessionId, "handoff_in")).toHaveLength(1);
		expect(await eventsOf(a, "handoff_out")).toHaveLength(1);

		// The target received the package but the source never recorded it (a crash between the steps): the retry completes it.
		const source = await triage();
		const key = "handoff-half-way";
		const handoffId = `hof_${(await newSessionId(`handoff\n${source}\n${key}`)).slice(4)}`;
		const targetId = await newSessionId(`handoff-target\n${source}\n${key}`);
		const body = { to: { agent: "research" }, task: "half way" };
		const built: any = await sessionObject(source).exportHandoff(SYSTEM_CALLER, { ...body, include: { summary: true, eventTypes: ["decision", "error"], maxTokens: 4000 } }, { handoffId, targetId });
		await sessionObject(targetId).receiveHandoff(SYSTEM_CALLER, { package: built.value.package, request: { from: source, body: { ...body, include: { summary: true, eventTypes: ["decision", "error"], maxTokens: 4000 } } }, newSession: { id: targetId, tenant: env.ADMIN_TENANT, agent: "research" } }, { idempotencyKey: key });
		expect(await eventsOf(source, "handoff_out")).toHaveLength(0);
		const retried = await callJson(`/v1/sessions/${source}/handoffs`, { method: "POST", body, headers: { "idempotency-key": key } });
		expect(retried.status).toBe(201);
		expect(retried.body).toMatchObject({ handoffId, to: { sessionId: targetId } });
		expect(await eventsOf(targetId, "handoff_in")).toHaveLength(1);
		expect(await eventsOf(source, "handoff_out")).toHaveLength(1);
	});

	it("answers 410 for a deleted target and records nothing in the source", async () => {
		const a = await triage();
		const gone = await createSession();
		expect((await callJson(`/v1/sessions/${gone}`, { method: "DELETE" })).status).toBe(200);
		const refused = await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "x", sessionId: gone }, task: "t" } });
		expect(refused.status).toBe(410);
		expect(await eventsOf(a, "handoff_out")).toHaveLength(0);
	});

	it("refuses bad input with 4xx: unknown fields, a state namespace outside a token's scope, handing off to itself, agents appending handoff events", async () => {
		const a = await triage();
		expect((await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "x" }, task: "t", extra: 1 } })).status).toBe(400);
		expect((await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "x", sessionId: a }, task: "t" } })).status).toBe(400);
		expect((await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", body: { to: { agent: "x" }, task: "t", include: { maxTokens: 10 } } })).status).toBe(400);
		const token = await callJson("/v1/tokens", { method: "POST", body: { scopes: { operations: ["read", "write"], namespaces: ["ticket"] } } });
		const outside = await callJson(`/v1/sessions/${a}/handoffs`, { method: "POST", key: token.body.token, body: { to: { agent: "x" }, task: "t", include: { stateNamespaces: ["scratch"], maxTokens: 1000 } } });
		expect(outside.status).toBe(403);
		expect(outside.body.error.code).toBe("namespace_out_of_scope");
		const forged = await callJson(`/v1/sessions/${a}/events`, { method: "POST", body: { events: [{ type: "handoff_in", content: {} }] } });
		expect(forged.status).toBe(400);
	});
});

