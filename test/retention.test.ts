import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";

const DAY_MS = 86_400_000;

/** Moves the session's clock back by `days` and makes its retention timer due now. */
async function age(id: string, fields: { created?: number; updated?: number }) {
	await runInDurableObject(sessionObject(id), (_instance, state) => {
		state.storage.sql.exec("UPDATE session SET created_at = created_at - ?, updated_at = updated_at - ?", (fields.created ?? 0) * DAY_MS, (fields.updated ?? 0) * DAY_MS);
		state.storage.sql.exec("UPDATE timers SET due_at = 0 WHERE kind = 'retention'");
	});
}

async function retentionDue(id: string): Promise<number | null> {
	return runInDurableObject(sessionObject(id), (_instance, state) => state.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM timers WHERE kind = 'retention'").toArray()[0]?.due_at ?? null);
}

describe("retention", () => {
	it("deletes a session deleteAfterDays after its creation, purging it everywhere like DELETE", async () => {
		const id = await createSession({ body: { policy: { retention: { deleteAfterDays: 1 } } } });
		await callJson(`/v1/sessions/${id}/state/notes/big`, { method: "PUT", body: { value: "x".repeat(40_000) } });
		const due = await retentionDue(id);
		expect(due).toBeGreaterThan(Date.now() + DAY_MS - 60_000);
		await age(id, { created: 2 });
		await runJobsUntilIdle(id);
		const gone = await callJson(`/v1/sessions/${id}`);
		expect(gone.status).toBe(410);
		expect((await env.BLOBS.list({ prefix: `t/${env.ADMIN_TENANT}/s/${id}/` })).objects).toEqual([]);
		const tombstone = await env.DB.prepare("SELECT status FROM sessions WHERE tenant = ? AND id = ?").bind(env.ADMIN_TENANT, id).first<{ status: string }>();
		expect(tombstone?.status).toBe("deleted");
		const trail = await callJson(`/v1/sessions/${id}/audit`);
		expect(trail.status).toBe(410);
	});

	it("deletes after idleDays without a write, and a write pushes the limit back", async () => {
		const idle = await createSession({ body: { policy: { retention: { idleDays: 3 } } } });
		const busy = await createSession({ body: { policy: { retention: { idleDays: 3 } } } });
		await age(idle, { created: 10, updated: 4 });
		// Old, but written just now: the timer fires and re-arms instead.
		await age(busy, { created: 10 });
		await runJobsUntilIdle(idle);
		await runJobsUntilIdle(busy);
		expect((await callJson(`/v1/sessions/${idle}`)).status).toBe(410);
		expect((await callJson(`/v1/sessions/${busy}`)).status).toBe(200);
		expect(await retentionDue(busy)).toBeGreaterThan(Date.now() + 2 * DAY_MS);
	});

	it("takes the tenant's default when the session names none, and the session's own when it does", async () => {
		const admin = (await callJson("/v1/admin/keys", { method: "POST", body: { role: "admin", tenant: `r-${crypto.randomUUID().slice(0, 8)}` } })).body.key as string;
		expect((await callJson("/v1/admin/retention", { key: admin })).body).toEqual({ retention: null });
		const set = await callJson("/v1/admin/retention", { method: "PUT", key: admin, body: { retention: { idleDays: 30 } } });
		expect(set.status).toBe(200);
		const plain = await callJson("/v1/sessions", { method: "POST", key: admin, body: {} });
		expect(plain.body.policy.retention).toEqual({ idleDays: 30 });
		const own = await callJson("/v1/sessions", { method: "POST", key: admin, body: { policy: { retention: { deleteAfterDays: 7 } } } });
		expect(own.body.policy.retention).toEqual({ deleteAfterDays: 7 });
	});

	it("refuses retention values out of range with 400 and changes nothing", async () => {
		const id = await createSession();
		for (const retention of [{ idleDays: 0 }, { deleteAfterDays: 100_000 }, { idleDays: 1.5 }, { keepForever: true }]) {
			const refused = await callJson(`/v1/sessions/${id}`, { method: "PATCH", body: { policy: { retention } } });
			expect(refused.status, JSON.stringify(retention)).toBe(400);
			expect(refused.body.error.code).toBe("validation_failed");
			expect((await callJson("/v1/admin/retention", { method: "PUT", body: { retention } })).status).toBe(400);
		}
		expect((await callJson(`/v1/sessions/${id}`)).body.version).toBe(1);
		expect(await retentionDue(id)).toBeNull();
	});

	it("reports where the session's bytes are: its own database and R2", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 1 } } });
		const before = (await callJson(`/v1/sessions/${id}`)).body.storage;
		expect(before.hotBytes).toBeGreaterThan(0);
		expect(before.archivedBytes).toBe(0);
		await callJson(`/v1/sessions/${id}/state/notes/big`, { method: "PUT", body: { value: "y".repeat(30_000) } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "first finding ".repeat(50) }, { type: "note", content: "second" }] } });
		const withBlob = (await callJson(`/v1/sessions/${id}`)).body.storage;
		expect(withBlob.archivedBytes).toBeGreaterThanOrEqual(30_000);
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		const compacted = (await callJson(`/v1/sessions/${id}`)).body.storage;
		expect(compacted.archivedBytes).toBeGreaterThan(withBlob.archivedBytes + 500);
	});
});
