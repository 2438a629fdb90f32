import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession } from "./helpers";

describe("idempotency", () => {
	it("returns the first response to a retry and writes nothing twice", async () => {
		const id = await createSession();
		const headers = { "idempotency-key": "comment-file-7" };
		const first = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2), headers });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		const retry = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2), headers });
		expect(retry.status).toBe(201);
		expect(retry.body).toEqual(first.body);
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(first.headers.get("idempotent-replayed")).toBeNull();
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ eventCount: 3, version: 3 });
	});

	it("writes once when the same key is sent concurrently", async () => {
		const id = await createSession();
		const results = await Promise.all(
			Array.from({ length: 30 }, () =>
				callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "idempotency-key": "same" } }),
			),
		);
		expect(results.every((result) => result.status === 201)).toBe(true);
		expect(new Set(results.map((result) => JSON.stringify(result.body))).size).toBe(1);
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ eventCount: 1, version: 2 });
	});

	it("replays even when the session moved on and the retry's expectedVersion is now stale", async () => {
		const id = await createSession();
		const headers = { "idempotency-key": "k1", "if-match": "1" };
		const first = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 }, headers });
		await callJson(`/v1/sessions/${id}/state/kv/b`, { method: "PUT", body: { value: 2 } });
		const retry = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 }, headers });
		expect(retry.status).toBe(200);
		expect(retry.body).toEqual(first.body);
	});

	it("refuses a key reused for a different request with 422 and changes nothing", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "idempotency-key": "k" } });
		const reused = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: appendBody(1, () => "different"),
			headers: { "idempotency-key": "k" },
		});
		expect(reused.status).toBe(422);
		expect(reused.body.error.code).toBe("idempotency_key_reused");
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(1);
	});

	it("does not remember failures: a retry after a conflict is evaluated afresh", async () => {
		const id = await createSession();
		const headers = { "idempotency-key": "cas-1" };
		const conflict = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1, ifVersion: 5 }, headers });
		expect(conflict.status).toBe(409);
		const again = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1, ifVersion: 5 }, headers });
		expect(again.status).toBe(409);
	});

	it("makes a create without an id safe to retry: the same key yields the same session", async () => {
		const headers = { "idempotency-key": crypto.randomUUID() };
		const first = await callJson("/v1/sessions", { method: "POST", body: { agent: "triage" }, headers });
		const retry = await callJson("/v1/sessions", { method: "POST", body: { agent: "triage" }, headers });
		expect(first.status).toBe(201);
		expect(retry.status).toBe(201);
		expect(retry.body.id).toBe(first.body.id);
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
	});
});
