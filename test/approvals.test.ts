import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, createSession, newId, runJobsUntilIdle, sessionObject } from "./helpers";

const refund = (extra: Record<string, unknown> = {}) => ({
	title: "Refund $4,200 to ACME Corp",
	summary: "Vendor ACME double-billed invoice 1182; policy caps agent refunds at $500; the receipt is attached.",
	payload: { vendor: "ACME Corp", amount: 4200, currency: "USD", policy: "refunds over $500 need a manager" },
	requestedBy: "billing-agent",
	...extra,
});

async function deliveries(hook: string): Promise<Array<{ deliveryId: string; signature: string; body: string; answered: number }>> {
	return (await fetch(`${env.WEBHOOK_RECEIVER_URL}/hooks/${hook}`)).json();
}

/** Makes an approval's escalation due now, as if its deadline had passed. */
async function passDeadline(id: string, approvalId: string) {
	await runInDurableObject(sessionObject(id), (_instance, state) => {
		const sql = state.storage.sql;
		const row = sql.exec<{ value: string }>("SELECT value FROM state WHERE ns = '_approvals' AND key = ?", approvalId).one();
		const document = JSON.parse(row.value) as { escalateAt: number };
		document.escalateAt = Date.now() - 1000;
		sql.exec("UPDATE state SET value = ? WHERE ns = '_approvals' AND key = ?", JSON.stringify(document), approvalId);
		sql.exec("UPDATE timers SET due_at = ? WHERE kind = 'escalate'", Date.now() - 1000);
	});
}

async function hmacHex(key: string, message: string): Promise<string> {
	const encoder = new TextEncoder();
	const cryptoKey = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	const signature = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message)));
	return [...signature].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("pause and resume", () => {
	it("refuses agent writes with 423 while paused; reads, decisions and resume still work; both are events", async () => {
		const id = await createSession();
		const approval = await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "r1" }) });
		expect(approval.status).toBe(201);
		const paused = await callJson(`/v1/sessions/${id}/pause`, { method: "POST", body: { reason: "waiting for the refund decision" } });
		expect(paused.status).toBe(200);
		expect(paused.body.paused).toMatchObject({ reason: "waiting for the refund decision", until: null });
		const refused = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "x" }] } });
		expect(refused.status).toBe(423);
		expect(refused.body.error.code).toBe("session_paused");
		expect((await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } })).status).toBe(423);
		expect((await callJson(`/v1/sessions/${id}/context?budget=1000`)).status).toBe(200);
		const decided = await callJson(`/v1/sessions/${id}/approvals/r1/decision`, { method: "POST", body: { decision: "approve", by: "manager@acme" } });
		expect(decided.status).toBe(200);
		expect((await callJson(`/v1/sessions/${id}/resume`, { method: "POST", body: { note: "approved" } })).body.paused).toBeNull();
		expect((await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "x" }] } })).status).toBe(201);
		const notes = (await callJson(`/v1/sessions/${id}/events?types=note`)).body.events.map((event: { content: string }) => event.content);
		expect(notes).toEqual(["Session paused: waiting for the refund decision", "Session resumed: approved", "x"]);
	});

	it("resumes by timer when `until` passes", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/pause`, { method: "POST", body: { reason: "rate limited", until: new Date(Date.now() + 200).toISOString() } });
		await new Promise((resolve) => setTimeout(resolve, 300));
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.paused).toBeNull();
	});
});

describe("approvals", () => {
	it("blocks a workflow step until approved; the workflow reports waiting; a decision is made exactly once", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/workflows/refund`, { method: "PUT", body: { steps: [{ id: "check", action: "check the invoice" }, { id: "pay", action: "send the refund" }] } });
		await callJson(`/v1/sessions/${id}/workflows/refund/steps/check/start`, { method: "POST", body: { by: "agent" } });
		await callJson(`/v1/sessions/${id}/workflows/refund/steps/check/complete`, { method: "POST", body: {} });
		const opened = await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "refund-1", blocksWorkflow: { name: "refund", step: "pay" } }) });
		expect(opened.body).toMatchObject({ id: "refund-1", status: "pending", blocksWorkflow: { name: "refund", step: "pay" } });
		const waiting = (await callJson(`/v1/sessions/${id}/workflows/refund`)).body;
		expect(waiting).toMatchObject({ status: "waiting", next: null });
		expect((await callJson(`/v1/sessions/${id}/workflows/refund/steps/pay/start`, { method: "POST", body: { by: "agent" } })).status).toBe(409);

		const decision = { decision: "approve", by: "manager@acme", comment: "ok" };
		const first = await callJson(`/v1/sessions/${id}/approvals/refund-1/decision`, { method: "POST", body: decision });
		expect(first.body).toMatchObject({ status: "approved", decision: { decision: "approve", by: "manager@acme" } });
		const retry = await callJson(`/v1/sessions/${id}/approvals/refund-1/decision`, { method: "POST", body: decision });
		expect(retry.status).toBe(200);
		expect(retry.body.version).toBe(first.body.version);
		const other = await callJson(`/v1/sessions/${id}/approvals/refund-1/decision`, { method: "POST", body: { decision: "reject", by: "cfo@acme" } });
		expect(other.status).toBe(409);
		expect(other.body.error.code).toBe("approval_decided");
		expect((await callJson(`/v1/sessions/${id}/workflows/refund`)).body).toMatchObject({ status: "running", next: { id: "pay", attempt: 1 } });
	});

	it("a rejection fails the blocked step and its workflow", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/workflows/refund`, { method: "PUT", body: { steps: [{ id: "pay", action: "send the refund" }] } });
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "r", blocksWorkflow: { name: "refund", step: "pay" } }) });
		await callJson(`/v1/sessions/${id}/approvals/r/decision`, { method: "POST", body: { decision: "reject", by: "manager" } });
		expect((await callJson(`/v1/sessions/${id}/workflows/refund`)).body).toMatchObject({ status: "failed", next: null });
	});

	it("lists the tenant's pending approvals from the index", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "listed" }) });
		await runJobsUntilIdle(id);
		const pending = (await callJson("/v1/approvals?status=pending")).body.approvals;
		expect(pending).toContainEqual(expect.objectContaining({ sessionId: id, id: "listed", status: "pending", title: "Refund $4,200 to ACME Corp" }));
		await callJson(`/v1/sessions/${id}/approvals/listed/decision`, { method: "POST", body: { decision: "approve", by: "m" } });
		await runJobsUntilIdle(id);
		const after = (await callJson("/v1/approvals?status=pending")).body.approvals;
		expect(after.some((approval: { id: string; sessionId: string }) => approval.sessionId === id)).toBe(false);
	});

	it("comes back pending when the session is restored to a checkpoint before its decision", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "r" }) });
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "asked" } });
		await callJson(`/v1/sessions/${id}/approvals/r/decision`, { method: "POST", body: { decision: "approve", by: "m" } });
		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "asked" } });
		expect((await callJson(`/v1/sessions/${id}/approvals/r`)).body).toMatchObject({ status: "pending", decision: null });
	});

	it("rejects bad input: plain-http webhooks to other hosts, unknown workflows, decisions on unknown approvals", async () => {
		const id = await createSession();
		const http = await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ escalate: { afterSeconds: 60, webhook: "http://example.com/hook" } }) });
		expect(http.status).toBe(400);
		const ftp = await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ escalate: { afterSeconds: 60, webhook: "ftp://example.com/hook" } }) });
		expect(ftp.status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ blocksWorkflow: { name: "nope", step: "x" } }) })).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/approvals/nope/decision`, { method: "POST", body: { decision: "approve", by: "m" } })).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/approvals`)).body.approvals).toEqual([]);
	});
});

describe("escalation", () => {
	it("escalates a pending approval past its deadline once, with a self-contained package, delivered signed to a real webhook", async () => {
		const id = await createSession({ body: { agent: "billing-agent" } });
		const hook = newId("hook");
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "message", role: "user", content: "Please refund ACME" }] } });
		const opened = await callJson(`/v1/sessions/${id}/approvals`, {
			method: "POST",
			body: refund({ id: "late", deadline: new Date(Date.now() + 3_600_000).toISOString(), escalate: { afterSeconds: 3600, webhook: `${env.WEBHOOK_RECEIVER_URL}/hooks/${hook}` } }),
		});
		expect(opened.status).toBe(201);
		await passDeadline(id, "late");
		for (let fire = 0; fire < 3; fire++) await runDurableObjectAlarm(sessionObject(id));
		await runJobsUntilIdle(id);

		const escalations = (await callJson(`/v1/sessions/${id}/events?types=escalation`)).body.events;
		expect(escalations).toHaveLength(1);
		const escalation = escalations[0].content;
		expect(escalation).toMatchObject({
			reason: "deadline_passed",
			approval: { id: "late", status: "pending", payload: { vendor: "ACME Corp", amount: 4200 } },
			session: { id, agent: "billing-agent" },
		});
		expect(escalation.context.items.some((item: { content?: unknown }) => item.content === "Please refund ACME")).toBe(true);

		const received = await deliveries(hook);
		expect(received).toHaveLength(1);
		expect(received[0].deliveryId).toBe(escalation.deliveryId);
		const { key } = (await callJson("/v1/admin/webhook-signing-key")).body;
		const [t, v1] = received[0].signature.split(",").map((part) => part.split("=")[1]);
		expect(v1).toBe(await hmacHex(key, `${t}.${received[0].body}`));
		expect(JSON.parse(received[0].body)).toEqual(escalation);
		expect((await callJson(`/v1/sessions/${id}/approvals/late`)).body.escalated).toBe(true);
	});

	it("retries a failing receiver with the same delivery id until it acknowledges", async () => {
		const id = await createSession();
		const hook = newId("hook");
		await fetch(`${env.WEBHOOK_RECEIVER_URL}/hooks/${hook}/fail`, { method: "POST", body: JSON.stringify({ times: 2 }) });
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "a", escalate: { afterSeconds: 3600, webhook: `${env.WEBHOOK_RECEIVER_URL}/hooks/${hook}` } }) });
		await passDeadline(id, "a");
		for (let fire = 0; fire < 10 && (await deliveries(hook)).filter((delivery) => delivery.answered === 204).length === 0; fire++) {
			await runDurableObjectAlarm(sessionObject(id));
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
		const received = await deliveries(hook);
		expect(received.map((delivery) => delivery.answered)).toEqual([500, 500, 204]);
		expect(new Set(received.map((delivery) => delivery.deliveryId)).size).toBe(1);
		await runJobsUntilIdle(id);
		expect(await deliveries(hook)).toHaveLength(3);
	});

	it("does not escalate an approval decided before its deadline", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "quick", escalate: { afterSeconds: 1 } }) });
		await callJson(`/v1/sessions/${id}/approvals/quick/decision`, { method: "POST", body: { decision: "approve", by: "m" } });
		await new Promise((resolve) => setTimeout(resolve, 1100));
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}/events?types=escalation`)).body.events).toEqual([]);
	});

	it("lets a person pause, decide and resume while an agent holds the writer lease", async () => {
		const id = await createSession();
		const lease = await callJson(`/v1/sessions/${id}/lease`, { method: "POST", body: { holder: "agent", ttlSeconds: 300 } });
		const token = String(lease.body.token);
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", headers: { "lease-token": token }, body: refund({ id: "l" }) });
		expect((await callJson(`/v1/sessions/${id}/pause`, { method: "POST", body: { reason: "review" } })).status).toBe(200);
		expect((await callJson(`/v1/sessions/${id}/approvals/l/decision`, { method: "POST", body: { decision: "approve", by: "m" } })).status).toBe(200);
		expect((await callJson(`/v1/sessions/${id}/lease`, { method: "DELETE", headers: { "lease-token": token } })).status).toBe(200);
		expect((await callJson(`/v1/sessions/${id}/resume`, { method: "POST", body: {} })).status).toBe(200);
	});

	it("removes an approval from the tenant list when a restore goes back to before it", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "empty" } });
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "phantom" }) });
		await runJobsUntilIdle(id);
		const listed = async () => (await callJson("/v1/approvals")).body.approvals.filter((approval: { sessionId: string }) => approval.sessionId === id);
		expect(await listed()).toHaveLength(1);
		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "empty" } });
		await runJobsUntilIdle(id);
		expect(await listed()).toEqual([]);
	});

	it("only blocks a pending step, and a blocked step cannot be skipped around its approval", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/workflows/w`, { method: "PUT", body: { steps: [{ id: "a", action: "a" }, { id: "b", action: "b" }] } });
		await callJson(`/v1/sessions/${id}/workflows/w/steps/a/start`, { method: "POST", body: { by: "x" } });
		const running = await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ blocksWorkflow: { name: "w", step: "a" } }) });
		expect(running.status).toBe(409);
		await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: refund({ id: "gate", blocksWorkflow: { name: "w", step: "b" } }) });
		expect((await callJson(`/v1/sessions/${id}/workflows/w/steps/b/skip`, { method: "POST", body: { reason: "no" } })).status).toBe(409);
	});
});
