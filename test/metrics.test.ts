import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { appendBody, call, callJson, createSession, mintKey, runJobsUntilIdle, sessionObject, waitFor } from "./helpers";

/** Metrics are per tenant: each test works in a tenant of its own, through its admin key. */
async function tenantAdmin(): Promise<string> {
	const minted = await callJson("/v1/admin/keys", { method: "POST", body: { role: "admin", tenant: `m-${crypto.randomUUID().slice(0, 8)}` } });
	return minted.body.key as string;
}

async function metrics(key: string) {
	const response = await callJson("/v1/metrics", { key });
	expect(response.status).toBe(200);
	return response.body;
}

async function sessionOf(key: string, body: Record<string, unknown> = {}): Promise<string> {
	const created = await callJson("/v1/sessions", { method: "POST", key, body });
	expect(created.status).toBe(201);
	return created.body.id as string;
}

describe("metrics", () => {
	it("move when the matching action happens", async () => {
		const key = await tenantAdmin();
		const tenant = (await callJson("/v1/admin/keys", { key })).body.keys[0].tenant as string;
		const settle = async (...ids: string[]) => {
			for (const id of ids) await runJobsUntilIdle(id, tenant);
		};
		const empty = await metrics(key);
		expect(empty.sessions).toEqual({ active: 0, paused: 0, deleted: 0 });
		expect(empty.tokensPerSession.p50).toBeNull();

		const busy = await sessionOf(key, { policy: { modelWindowTokens: 2048, keepRecentEvents: 1 } });
		const quiet = await sessionOf(key);
		const doomed = await sessionOf(key);
		await callJson(`/v1/sessions/${busy}/events`, { method: "POST", key, body: appendBody(6, (index) => `finding ${index}: ${"words ".repeat(40)}`) });
		await callJson(`/v1/sessions/${busy}/checkpoints`, { method: "POST", key, body: { name: "before" } });
		await callJson(`/v1/sessions/${busy}/events`, { method: "POST", key, body: appendBody(2) });
		await settle(busy, quiet, doomed);
		const loaded = await metrics(key);
		expect(loaded.sessions).toEqual({ active: 3, paused: 0, deleted: 0 });
		expect(loaded.tokensPerSession.max).toBeGreaterThan(200);
		expect(loaded.contextUtilization.max).toBeGreaterThan(0.1);

		expect((await callJson(`/v1/sessions/${busy}/compact`, { method: "POST", key, body: {} })).body.compacted).toBe(true);
		expect((await callJson(`/v1/sessions/${busy}/restore`, { method: "POST", key, body: { checkpoint: "before" } })).status).toBe(200);
		await callJson(`/v1/sessions/${quiet}/pause`, { method: "POST", key, body: { reason: "review" } });
		await callJson(`/v1/sessions/${doomed}`, { method: "DELETE", key });
		expect((await callJson(`/v1/sessions/${busy}/approvals`, { method: "POST", key, body: { title: "refund", summary: "refund order 17", requestedBy: "agent" } })).status).toBe(201);
		await settle(busy, quiet, doomed);
		const moved = await metrics(key);
		expect(moved.sessions).toEqual({ active: 1, paused: 1, deleted: 1 });
		expect(moved.compactions.total).toBe(1);
		expect(moved.compactions.lastHour).toBe(1);
		expect(moved.compactions.reductionRatio).toBeGreaterThan(0);
		expect(moved.restores).toBe(1);
		expect(moved.approvals.pending).toBe(1);

		await callJson(`/v1/sessions/${quiet}/resume`, { method: "POST", key, body: {} });
		await settle(quiet);
		expect((await metrics(key)).resumes).toBe(1);
		expect((await metrics(key)).sessions).toEqual({ active: 2, paused: 0, deleted: 1 });
	});

	it("time state and context lookups and count their errors by code", async () => {
		const key = await tenantAdmin();
		const tenant = (await callJson("/v1/admin/keys", { key })).body.keys[0].tenant as string;
		const id = await sessionOf(key);
		expect((await callJson(`/v1/sessions/${id}/context?budget=500`, { key })).status).toBe(200);
		expect((await callJson(`/v1/sessions/${id}/state/task/missing`, { key })).status).toBe(404);
		const figures = await waitFor("the lookups to reach the index", async () => {
			await runJobsUntilIdle(id, tenant);
			const report = await metrics(key);
			return report.lookups.context.count === 1 && report.lookups.state.errors.not_found === 1 ? report : null;
		});
		expect(figures.lookups.context.p50Ms).toBeGreaterThan(0);
		expect(figures.lookups.state.count).toBe(0);

		const text = await call("/metrics", { key });
		expect(text.status).toBe(200);
		expect(text.headers.get("content-type")).toContain("text/plain");
		const body = await text.text();
		expect(body).toContain(`edge_context_sessions{tenant="${tenant}",state="active"} 1`);
		expect(body).toContain(`edge_context_lookup_duration_ms_count{tenant="${tenant}",operation="context"} 1`);
		expect(body).toContain(`edge_context_lookup_errors_total{tenant="${tenant}",operation="state",code="not_found"} 1`);
		expect(body).toMatch(/# TYPE edge_context_lookup_duration_ms histogram/);
	});

	it("leave nothing in a session a credential probed without the right to", async () => {
		const key = await tenantAdmin();
		const tenant = (await callJson("/v1/admin/keys", { key })).body.keys[0].tenant as string;
		const id = await sessionOf(key, { subject: "user:1" });
		const token = (await callJson("/v1/tokens", { method: "POST", key, body: { scopes: { operations: ["read"], sessions: ["subject=user:2"] } } })).body.token as string;
		expect((await callJson(`/v1/sessions/${id}/context?budget=100`, { key: token })).body.error.code).toBe("session_out_of_scope");
		await runJobsUntilIdle(id, tenant);
		const figures = await runInDurableObject(sessionObject(id, tenant), (_instance, state) => state.storage.sql.exec("SELECT * FROM metrics").toArray());
		expect(figures).toEqual([]);
	});

	it("are for admins", async () => {
		const reader = await mintKey("reader");
		expect((await callJson("/v1/metrics", { key: reader })).status).toBe(403);
		expect((await call("/metrics", { key: reader })).status).toBe(403);
		expect((await call("/metrics", { key: null })).status).toBe(401);
	});
});
