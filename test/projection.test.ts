import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { D1Projection } from "../src/db/projection";
import type { SessionObject } from "../src/session/session-object";
import { appendBody, callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";
import { failingD1, type Outage } from "./faults";

async function indexRow(id: string) {
	return env.DB.prepare("SELECT version, event_count FROM sessions WHERE id = ?").bind(id).first<{ version: number; event_count: number }>();
}

async function indexedEvents(id: string): Promise<number> {
	return (await env.DB.prepare("SELECT count(*) AS n FROM events WHERE session_id = ?").bind(id).first<{ n: number }>())!.n;
}

async function breakD1(id: string): Promise<Outage> {
	const outage: Outage = { down: true };
	await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
		instance.dependencies.projection = new D1Projection(failingD1(env.DB, outage));
	});
	return outage;
}

/**
 * Puts a D1 in front of the session's drain whose batches wait until released: `sent` settles
 * when the drain has peeked and is waiting on D1, `release` lets it through.
 */
async function holdDrainOnD1(id: string): Promise<{ sent: Promise<void>; release: () => void }> {
	let release!: () => void;
	const held = new Promise<void>((resolve) => {
		release = resolve;
	});
	let sending!: () => void;
	const sent = new Promise<void>((resolve) => {
		sending = resolve;
	});
	await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
		const gated = new Proxy(env.DB, {
			get(target, property) {
				const value = Reflect.get(target, property, target);
				if (typeof value !== "function") return value;
				if (property !== "batch") return value.bind(target);
				return async (...args: unknown[]) => {
					sending();
					await held;
					return value.apply(target, args);
				};
			},
		});
		instance.dependencies.projection = new D1Projection(gated);
	});
	return { sent, release };
}

describe("D1 projection through the outbox", () => {
	it("indexes sessions and events once the alarm drains the outbox", async () => {
		const id = await createSession({ body: { agent: "indexer" } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(30) });
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexRow(id)).toEqual({ version: 2, event_count: 30 });
		expect(await indexedEvents(id)).toBe(30);
		expect((await callJson(`/v1/sessions/${id}`)).body.projection).toEqual({ pending: 0, lastError: null });
	});

	it("accepts writes while D1 is down and catches the index up after D1 returns", async () => {
		const id = await createSession();
		const outage = await breakD1(id);
		for (let index = 0; index < 5; index++) {
			const write = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(4) });
			expect(write.status).toBe(201);
		}
		const put = await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } });
		expect(put.status).toBe(200);
		await runDurableObjectAlarm(sessionObject(id));

		const lagging = await callJson(`/v1/sessions/${id}`);
		expect(lagging.body.projection.pending).toBeGreaterThan(0);
		expect(lagging.body.projection.lastError).toContain("injected outage");
		// The create may have been indexed before D1 broke; none of the writes since were.
		expect((await indexRow(id))?.event_count ?? 0).toBe(0);

		outage.down = false;
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexRow(id)).toEqual({ version: 7, event_count: 20 });
		expect(await indexedEvents(id)).toBe(20);
		expect((await callJson(`/v1/sessions/${id}`)).body.projection).toEqual({ pending: 0, lastError: null });
	});

	it("converges when an alarm runs again after a drain (at-least-once alarms)", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3) });
		await runDurableObjectAlarm(sessionObject(id));
		// Re-apply the same changes, as a drain cut off before acknowledging would.
		await new D1Projection(env.DB).write({
			changes: [
				{
					kind: "write",
					session: {
						tenant: env.ADMIN_TENANT,
						id,
						status: "active",
						agent: null,
						subject: null,
						parentId: null,
						version: 1,
						eventCount: 0,
						tokensTotal: 0,
						createdAt: 0,
						updatedAt: 0,
						deletedAt: null,
						paused: 0,
						contextTokens: 0,
						modelWindow: 128_000,
					},
					events: [{ seq: 1, type: "note", role: null, name: null, tokens: 1, createdAt: 0 }],
				},
			],
		});
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexRow(id)).toEqual({ version: 2, event_count: 3 });
		expect(await indexedEvents(id)).toBe(3);
	});

	it("finishes a deletion's purge once D1 is back, answering 202 meanwhile", async () => {
		const id = await createSession({ body: { subject: "to-forget" } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		await runDurableObjectAlarm(sessionObject(id));
		const outage = await breakD1(id);
		const deleted = await callJson(`/v1/sessions/${id}`, { method: "DELETE" });
		expect(deleted.status).toBe(202);
		expect(deleted.body.purge).toBe("pending");
		expect(await indexedEvents(id)).toBe(2);
		outage.down = false;
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(0);
		const tombstone = await env.DB.prepare("SELECT status, subject FROM sessions WHERE id = ?").bind(id).first();
		expect(tombstone).toEqual({ status: "deleted", subject: null });
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE" })).body.purge).toBe("complete");
	});
});

describe("a deletion while a drain waits on D1", () => {
	it("keeps the deletion's purge: the drain's acknowledgement cannot reach a change queued after it peeked", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3) });
		const { sent, release } = await holdDrainOnD1(id);
		const drain = runDurableObjectAlarm(sessionObject(id));
		await sent;
		// The deletion empties the outbox and queues its purge while the drain holds ids it peeked.
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(202);
		release();
		await drain;
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			instance.dependencies.projection = new D1Projection(env.DB);
		});
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(0);
		const tombstone = await env.DB.prepare("SELECT status FROM sessions WHERE id = ?").bind(id).first();
		expect(tombstone).toEqual({ status: "deleted" });
	});
});

describe("appended events follow a mark, not the outbox", () => {
	it("projects events appended while a drain waits on D1 in the next round, none twice, none lost", async () => {
		const id = await createSession();
		await runDurableObjectAlarm(sessionObject(id));
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(5) });
		const { sent, release } = await holdDrainOnD1(id);
		const drain = runDurableObjectAlarm(sessionObject(id));
		await sent;
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3) });
		expect((await callJson(`/v1/sessions/${id}`)).body.projection.pending).toBeGreaterThanOrEqual(3);
		release();
		await drain;
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			instance.dependencies.projection = new D1Projection(env.DB);
		});
		await runDurableObjectAlarm(sessionObject(id));
		const seqs = await env.DB.prepare("SELECT seq FROM events WHERE session_id = ? ORDER BY seq").bind(id).all<{ seq: number }>();
		expect(seqs.results.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
		const texts = await env.DB.prepare("SELECT count(*) AS n FROM event_text WHERE session_id = ?").bind(id).first<{ n: number }>();
		expect(texts?.n).toBe(8);
		expect(await indexRow(id)).toEqual({ version: 3, event_count: 8 });
		expect((await callJson(`/v1/sessions/${id}`)).body.projection).toEqual({ pending: 0, lastError: null });
	});

	it("sends appended events in the same round as the outbox's changes: a busy outbox does not hold them back", async () => {
		const id = await createSession();
		await runJobsUntilIdle(id);
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } });
		let batches = 0;
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			const counted = new Proxy(env.DB, {
				get(target, property) {
					const value = Reflect.get(target, property, target);
					if (typeof value !== "function") return value;
					if (property === "batch") batches++;
					return value.bind(target);
				},
			});
			instance.dependencies.projection = new D1Projection(counted);
		});
		await runJobsUntilIdle(id);
		expect(batches).toBe(1);
		expect(await indexedEvents(id)).toBe(2);
		expect(await indexRow(id)).toEqual({ version: 3, event_count: 2 });
	});

	it("projects the events a fork was seeded with, rows and text", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		const forked = await callJson(`/v1/sessions/${id}/fork`, { method: "POST", body: {} });
		expect(forked.status).toBe(201);
		await runDurableObjectAlarm(sessionObject(forked.body.id));
		expect(await indexedEvents(forked.body.id)).toBe(2);
		const texts = await env.DB.prepare("SELECT count(*) AS n FROM event_text WHERE session_id = ?").bind(forked.body.id).first<{ n: number }>();
		expect(texts?.n).toBe(2);
	});
});

describe("when the drain runs", () => {
	it("waits 30 s for a read's audit record alone, and comes forward to a second for a write", async () => {
		const id = await createSession();
		await runJobsUntilIdle(id);
		const drainDueIn = () =>
			runInDurableObject(sessionObject(id), (_instance, state) => {
				const row = state.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM timers WHERE kind = 'drain_outbox'").toArray()[0];
				return row ? row.due_at - Date.now() : null;
			});
		expect(await drainDueIn()).toBeNull();
		await callJson(`/v1/sessions/${id}/events`);
		expect(await drainDueIn()).toBeGreaterThan(25_000);
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		expect(await drainDueIn()).toBeLessThanOrEqual(1_000);
		await runJobsUntilIdle(id);
		expect(await indexedEvents(id)).toBe(1);
	});
});

describe("D1 failing in the middle of a drain", () => {
	it("keeps what was applied, retries the rest, and drains completely once D1 is back", async () => {
		const id = await createSession();
		const outage = await breakD1(id);
		// 120 separate writes: the drain needs several batches (the create's outbox row, then 48 appended events at a time).
		for (let index = 0; index < 120; index++) {
			expect((await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) })).status).toBe(201);
		}
		// Let the create's batch and one batch of events through, then fail the next.
		let batches = 0;
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			const flaky: D1Database = new Proxy(env.DB, {
				get(target, property) {
					const value = Reflect.get(target, property, target);
					if (typeof value !== "function") return value;
					return (...args: unknown[]) => {
						if (property === "batch" && ++batches > 2) throw new Error("D1_ERROR: connection reset mid-drain");
						return value.apply(target, args);
					};
				},
			});
			instance.dependencies.projection = new D1Projection(flaky);
		});
		outage.down = false;
		await runDurableObjectAlarm(sessionObject(id));
		const partial = await indexedEvents(id);
		expect(partial).toBeGreaterThan(0);
		expect(partial).toBeLessThan(120);
		const lagging = await callJson(`/v1/sessions/${id}`);
		expect(lagging.body.projection.pending).toBeGreaterThan(0);
		expect(lagging.body.projection.lastError).toContain("mid-drain");

		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			instance.dependencies.projection = new D1Projection(env.DB);
		});
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(120);
		expect(await indexRow(id)).toEqual({ version: 121, event_count: 120 });
		expect((await callJson(`/v1/sessions/${id}`)).body.projection).toEqual({ pending: 0, lastError: null });
	});
});
