import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, newId, runJobsUntilIdle, sessionObject } from "./helpers";

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

	it("forgets a key after 24 hours, and one sent with Idempotency-Retention: session as long as the session lives", async () => {
		const id = await createSession();
		const append = (key: string, retention?: string) =>
			callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "idempotency-key": key, ...(retention ? { "idempotency-retention": retention } : {}) } });
		expect((await append("op-daily")).status).toBe(201);
		const kept = await append("op-kept", "session");
		expect(kept.status).toBe(201);
		// A day and an hour pass: both records look that old, and the forget job runs.
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE idempotency SET created_at = created_at - ?", 25 * 3600 * 1000);
			state.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = 'forget_idempotency'", Date.now() - 1);
		});
		await runJobsUntilIdle(id);
		const keys = await runInDurableObject(sessionObject(id), (_instance, state) => state.storage.sql.exec<{ key: string }>("SELECT key FROM idempotency").toArray().map((row) => row.key));
		expect(keys).toEqual(["op-kept"]);

		const retriedKept = await append("op-kept", "session");
		expect(retriedKept.body).toEqual(kept.body);
		expect(retriedKept.headers.get("idempotent-replayed")).toBe("true");
		expect((await append("op-daily")).headers.get("idempotent-replayed")).toBeNull();
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(3);
	});

	it("keeps the key for the session's life on writes that take no version guard too (a create, a lease)", async () => {
		const id = newId("kept");
		const headers = { "idempotency-key": `create-${id}`, "idempotency-retention": "session" };
		expect((await callJson("/v1/sessions", { method: "POST", body: { id }, headers })).status).toBe(201);
		const lease = await callJson(`/v1/sessions/${id}/lease`, { method: "POST", body: { holder: "agent-1", ttlSeconds: 60 }, headers: { ...headers, "idempotency-key": `lease-${id}` } });
		expect(lease.status).toBeLessThan(300);
		const kept = await runInDurableObject(sessionObject(id), (_instance, state) => state.storage.sql.exec<{ key: string; kept: number }>("SELECT key, kept FROM idempotency ORDER BY key").toArray());
		expect(kept).toEqual([
			{ key: `create-${id}`, kept: 1 },
			{ key: `lease-${id}`, kept: 1 },
		]);
	});

	it("refuses Idempotency-Retention without a key, or with a value it does not know, and writes nothing", async () => {
		const id = await createSession();
		const withoutKey = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "idempotency-retention": "session" } });
		expect(withoutKey.status).toBe(400);
		expect(withoutKey.body.error.code).toBe("validation_failed");
		const unknown = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "idempotency-key": "k", "idempotency-retention": "forever" } });
		expect(unknown.status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(0);
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
