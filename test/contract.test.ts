import { describe, expect, it } from "vitest";
import { call, callJson, createSession } from "./helpers";

describe("the HTTP contract", () => {
	it("authenticates before it checks the content type: an unauthenticated POST is 401, not 415", async () => {
		const response = await call("/v1/sessions", { method: "POST", key: null, rawBody: "hello", headers: { "content-type": "text/plain" } });
		expect(response.status).toBe(401);
		expect((await call("/v1/sessions", { method: "POST", rawBody: "hello", headers: { "content-type": "text/plain" } })).status).toBe(415);
	});

	it("answers a method a path does not have with 405 and Allow", async () => {
		const id = await createSession();
		const response = await callJson(`/v1/sessions/${id}/events`, { method: "DELETE" });
		expect(response.status).toBe(405);
		expect(response.headers.get("allow")).toBe("GET, POST");
		expect(response.body.error.code).toBe("method_not_allowed");
		expect((await callJson(`/v1/sessions/${id}/nothing-here`)).status).toBe(404);
	});

	it("sends Location for creates and ETag after every write", async () => {
		const created = await callJson("/v1/sessions", { method: "POST", body: {} });
		expect(created.headers.get("location")).toBe(`/v1/sessions/${created.body.id}`);
		const id = created.body.id as string;
		await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } });
		const checkpoint = await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "cp" } });
		expect(checkpoint.headers.get("location")).toBe(`/v1/sessions/${id}/checkpoints/cp`);
		expect(checkpoint.headers.get("etag")).toBe(`"${checkpoint.body.version}"`);
		const deleted = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "DELETE" });
		expect(deleted.headers.get("etag")).toBe(`"${deleted.body.sessionVersion}"`);
		const restored = await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } });
		expect(restored.headers.get("etag")).toBe(`"${restored.body.version}"`);
		const fork = await callJson(`/v1/sessions/${id}/fork`, { method: "POST", body: {} });
		expect(fork.headers.get("location")).toBe(`/v1/sessions/${fork.body.id}`);
		expect(fork.headers.get("x-request-id")).toBeTruthy();
	});

	it("accepts RFC 3339 timestamps with offsets in the session list filters", async () => {
		const listed = await callJson(`/v1/sessions?updatedAfter=${encodeURIComponent("2026-11-22T10:00:00+02:00")}`);
		expect(listed.status).toBe(200);
	});

	it("requires Lease-Token to release a lease", async () => {
		const id = await createSession();
		const released = await callJson(`/v1/sessions/${id}/lease`, { method: "DELETE" });
		expect(released.status).toBe(400);
	});
});
