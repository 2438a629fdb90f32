import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, sessionObject } from "./helpers";

function acquire(id: string, body: Record<string, unknown>) {
	return callJson(`/v1/sessions/${id}/lease`, { method: "POST", body });
}

describe("writer lease", () => {
	it("fences writes: without the token 423 lease_held, with the token accepted", async () => {
		const id = await createSession();
		const lease = await acquire(id, { holder: "replica-a", ttlSeconds: 60 });
		expect(lease.status).toBe(200);
		expect(lease.body).toMatchObject({ holder: "replica-a", token: 1 });

		const unfenced = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		expect(unfenced.status).toBe(423);
		expect(unfenced.body.error).toMatchObject({ code: "lease_held", details: { holder: "replica-a" } });
		const wrongToken = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 }, headers: { "lease-token": "7" } });
		expect(wrongToken.status).toBe(409);
		expect(wrongToken.body.error.code).toBe("lease_token_stale");

		const fenced = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "lease-token": "1" } });
		expect(fenced.status).toBe(201);
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ eventCount: 1, lease: { holder: "replica-a" } });
	});

	it("refuses a second holder while the lease is held, and renews only with the current token", async () => {
		const id = await createSession();
		await acquire(id, { holder: "a", ttlSeconds: 60 });
		const other = await acquire(id, { holder: "b", ttlSeconds: 60 });
		expect(other.status).toBe(423);
		const badRenew = await acquire(id, { holder: "a", ttlSeconds: 60, token: 9 });
		expect(badRenew.status).toBe(409);
		const renewed = await acquire(id, { holder: "a", ttlSeconds: 120, token: 1 });
		expect(renewed.status).toBe(200);
		expect(renewed.body.token).toBe(1);
	});

	it("fences off an old holder after its lease expires and another replica takes over", async () => {
		const id = await createSession();
		await acquire(id, { holder: "a", ttlSeconds: 60 });
		// Let the lease lapse without waiting a minute: move its expiry into the past.
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE lease SET expires_at = ?", Date.now() - 1);
		});
		const expired = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "lease-token": "1" } });
		expect(expired.status).toBe(409);
		expect(expired.body.error.code).toBe("lease_expired");
		const takeover = await acquire(id, { holder: "b", ttlSeconds: 60 });
		expect(takeover.body.token).toBe(2);
		const zombie = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "lease-token": "1" } });
		expect(zombie.status).toBe(409);
		expect(zombie.body.error.code).toBe("lease_token_stale");
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(0);
	});

	it("releases with the current token, after which anyone may write", async () => {
		const id = await createSession();
		await acquire(id, { holder: "a", ttlSeconds: 60 });
		const missing = await callJson(`/v1/sessions/${id}/lease`, { method: "DELETE" });
		expect(missing.status).toBe(400);
		const stale = await callJson(`/v1/sessions/${id}/lease`, { method: "DELETE", headers: { "lease-token": "5" } });
		expect(stale.status).toBe(409);
		const released = await callJson(`/v1/sessions/${id}/lease`, { method: "DELETE", headers: { "lease-token": "1" } });
		expect(released.status).toBe(200);
		const write = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		expect(write.status).toBe(201);
		const next = await acquire(id, { holder: "b", ttlSeconds: 60 });
		expect(next.body.token).toBe(2);
	});
});
