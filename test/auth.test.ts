import { describe, expect, it } from "vitest";
import { appendBody, call, callJson, createSession, mintKey, newId } from "./helpers";

describe("auth", () => {
	it("answers 401 without a key or with a wrong one", async () => {
		expect((await callJson("/v1/sessions", { key: null })).status).toBe(401);
		const wrong = await callJson("/v1/sessions", { key: "ec_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" });
		expect(wrong.status).toBe(401);
		expect(wrong.body.error.code).toBe("unauthorized");
		expect((await callJson("/v1/sessions", { key: "garbage" })).status).toBe(401);
	});

	it("lets a reader read but not write, and a writer not manage keys", async () => {
		const id = await createSession();
		const reader = await mintKey("reader");
		const writer = await mintKey("writer");
		expect((await callJson(`/v1/sessions/${id}`, { key: reader })).status).toBe(200);
		const write = await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: reader, body: appendBody(1) });
		expect(write.status).toBe(403);
		expect(write.body.error.code).toBe("operation_out_of_scope");
		expect((await callJson("/v1/sessions", { method: "POST", key: reader, body: {} })).status).toBe(403);
		expect((await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: writer, body: appendBody(1) })).status).toBe(201);
		expect((await callJson("/v1/admin/keys", { key: writer })).status).toBe(403);
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(1);
	});

	it("stores minted keys only as hashes and stops accepting a revoked key", async () => {
		const created = await callJson("/v1/admin/keys", { method: "POST", body: { role: "writer", name: "ci" } });
		expect(created.status).toBe(201);
		const { key, id } = created.body;
		expect(key).toMatch(/^ec_[a-z2-7]{16}_/);
		const listed = await callJson("/v1/admin/keys");
		const entry = listed.body.keys.find((row: { id: string }) => row.id === id);
		expect(entry).toMatchObject({ role: "writer", name: "ci", revokedAt: null });
		expect(JSON.stringify(listed.body)).not.toContain(key);

		expect((await callJson("/v1/sessions", { key })).status).toBe(200);
		const revoked = await callJson(`/v1/admin/keys/${id}`, { method: "DELETE" });
		expect(revoked.status).toBe(200);
		expect(revoked.body.revokedAt).not.toBeNull();
		expect((await callJson("/v1/sessions", { key })).status).toBe(401);
		expect((await callJson(`/v1/admin/keys/nosuchkey`, { method: "DELETE" })).status).toBe(404);
	});

	it("confines a tenant admin to its own tenant's keys", async () => {
		const tenant = newId("t").slice(0, 20).toLowerCase();
		const admin = await mintKey("admin", tenant);
		const own = await callJson("/v1/admin/keys", { method: "POST", key: admin, body: { role: "reader" } });
		expect(own.status).toBe(201);
		expect(own.body.tenant).toBe(tenant);
		const foreign = await callJson("/v1/admin/keys", { method: "POST", key: admin, body: { role: "admin", tenant: "default" } });
		expect(foreign.status).toBe(403);
		const bootstrapKeys = await callJson("/v1/admin/keys");
		const defaultKey = bootstrapKeys.body.keys.find((row: { tenant: string }) => row.tenant === "default");
		expect((await callJson(`/v1/admin/keys/${defaultKey.id}`, { method: "DELETE", key: admin })).status).toBe(404);
	});

	it("serves /healthz without a key and tags every response with X-Request-Id", async () => {
		const health = await call("/healthz", { key: null });
		expect(health.status).toBe(200);
		expect(health.headers.get("x-request-id")).toBeTruthy();
		const denied = await call("/v1/sessions", { key: null });
		const body = (await denied.json()) as { error: { requestId: string } };
		expect(body.error.requestId).toBe(denied.headers.get("x-request-id"));
	});
});
