import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, sessionObject } from "./helpers";

describe("acknowledged means durable", () => {
	it("keeps every acknowledged write after the object is evicted from memory", async () => {
		const id = await createSession();
		const appended = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3), headers: { "idempotency-key": "a1" } });
		const put = await callJson(`/v1/sessions/${id}/state/kv/progress`, { method: "PUT", body: { value: { pages: 30 } } });
		await callJson(`/v1/sessions/${id}/lease`, { method: "POST", body: { holder: "a", ttlSeconds: 600 } });
		expect(appended.status).toBe(201);
		expect(put.status).toBe(200);

		await evictDurableObject(sessionObject(id));

		const session = await callJson(`/v1/sessions/${id}`);
		expect(session.body).toMatchObject({ version: 3, eventCount: 3, lastSeq: 3, stateKeyCount: 1, lease: { holder: "a" } });
		expect((await callJson(`/v1/sessions/${id}/state/kv/progress`)).body.value).toEqual({ pages: 30 });
		expect((await callJson(`/v1/sessions/${id}/events`)).body.events).toHaveLength(3);
		// The idempotency record survived too: the retry is still recognised.
		const retry = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: appendBody(3),
			headers: { "idempotency-key": "a1", "lease-token": "1" },
		});
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(retry.body).toEqual(appended.body);
	});

	it("continues the seq sequence after eviction without gaps", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(5) });
		await evictDurableObject(sessionObject(id));
		const next = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		expect(next.body).toMatchObject({ firstSeq: 6, lastSeq: 7, version: 3 });
	});
});
