import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";

const DAY_MS = 86_400_000;

/** Moves the session's clock back by `days` and makes its retention timer due now. */
async function age(id: string, fields: { created?: number; updated?: number }) {
	await runInDurableObject(sessionObject(id), (_instance, state) => {
		state.storage.sql.exec("UPDATE session SET created_at = created_at - ?, updated_at = updated_at - ?", (fields.created ?? 0) * DAY_MS, (fields.updated ?? 0) * DAY_MS);
		state.storage.sql.exec("UPDATE timers SET due_at = 1 WHERE kind = 'retention'");
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

describe("archiving by age", () => {
	async function ageEvents(id: string, days: number) {
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE events SET created_at = created_at - ?", days * DAY_MS);
			state.storage.sql.exec("UPDATE timers SET due_at = 1 WHERE kind = 'archive_events'");
		});
	}

	async function hotContentRows(id: string): Promise<number> {
		return runInDurableObject(sessionObject(id), (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE content IS NOT NULL").one().n);
	}

	it("moves old events to R2 segments, keeps every event readable and the window unchanged", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 2, retention: { archiveAfterDays: 30 } } } });
		const events = Array.from({ length: 12 }, (_, index) => ({ type: "note", content: `finding ${index}: ${"detail ".repeat(20)}`, metadata: { index } }));
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } });
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: "ship it", pinned: true } });
		await runJobsUntilIdle(id);
		const before = {
			session: (await callJson(`/v1/sessions/${id}`)).body,
			window: (await callJson(`/v1/sessions/${id}/context?budget=2000`)).body,
			events: (await callJson(`/v1/sessions/${id}/events?limit=100`)).body.events,
		};
		expect(await hotContentRows(id)).toBe(12);

		await ageEvents(id, 31);
		await runJobsUntilIdle(id);
		expect(await hotContentRows(id)).toBe(0);
		const after = (await callJson(`/v1/sessions/${id}`)).body;
		expect(after.version).toBe(before.session.version);
		expect(after.storage.archivedBytes).toBeGreaterThan(before.session.storage.archivedBytes);
		expect((await env.BLOBS.list({ prefix: `t/${env.ADMIN_TENANT}/s/${id}/archives/segment-` })).objects.length).toBe(2);

		const window = (await callJson(`/v1/sessions/${id}/context?budget=2000`)).body;
		expect(window.items).toEqual(before.window.items);
		const listed = (await callJson(`/v1/sessions/${id}/events?limit=100`)).body.events;
		// The same events but for the flag saying where their content is (and the age the test gave them).
		const comparable = ({ archived: _archived, createdAt: _createdAt, ...event }: { archived?: boolean; createdAt: string }) => event;
		expect(listed.map(comparable)).toEqual(before.events.map(comparable));
		const indexed = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE tenant = ? AND session_id = ?").bind(env.ADMIN_TENANT, id).first<{ n: number }>();
		expect(indexed?.n).toBe(12);

		// Compaction reads segmented content back for its summary and archive.
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		const archived = (await callJson(`/v1/sessions/${id}/events?limit=100&includeArchived=true`)).body.events;
		expect(archived.map((event: { content: string }) => event.content)).toEqual(before.events.map((event: { content: string }) => event.content));

		// An export carries the content inline; its import is a session of its own.
		const exported = await (await call(`/v1/sessions/${id}/export`)).text();
		expect(exported).toContain("finding 0:");
		const imported = await call(`/v1/sessions/import?id=${id}-copy`, { method: "POST", rawBody: exported, headers: { "content-type": "application/x-ndjson" } });
		expect(imported.status).toBe(201);
		expect((await callJson(`/v1/sessions/${id}-copy/context?budget=2000`)).body.items).toEqual((await callJson(`/v1/sessions/${id}/context?budget=2000`)).body.items);
		// A document whose events point at segments (which exports never carry) creates nothing.
		const tampered = exported.replace('"segment_id":null', '"segment_id":1');
		expect(tampered).not.toBe(exported);
		const refused = await call(`/v1/sessions/import?id=${id}-bad`, { method: "POST", rawBody: tampered, headers: { "content-type": "application/x-ndjson" } });
		expect(refused.status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}-bad`)).status).toBe(404);
	});

	it("leaves events younger than archiveAfterDays, pinned events, and sessions without the policy alone", async () => {
		const id = await createSession({ body: { policy: { retention: { archiveAfterDays: 30 } } } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "old", pinned: true }, { type: "note", content: "old too" }] } });
		await ageEvents(id, 31);
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "new" }] } });
		const plain = await createSession();
		await callJson(`/v1/sessions/${plain}/events`, { method: "POST", body: { events: [{ type: "note", content: "kept" }] } });
		await ageEvents(plain, 400);
		await runJobsUntilIdle(id);
		await runJobsUntilIdle(plain);
		expect(await hotContentRows(id)).toBe(2);
		expect(await hotContentRows(plain)).toBe(1);
	});
});
