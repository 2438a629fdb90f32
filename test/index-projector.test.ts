import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { IndexBatch } from "../src/db/index-batch";
import { D1Projection, type SessionIndexRow } from "../src/db/projection";
import type { IndexProjector } from "../src/projector/index-projector";
import { indexBindings, indexDatabase, shardOf } from "../src/projector/shards";
import { appendBody, callJson, createSession, mintKey, newId, sessionObject } from "./helpers";
import { failingD1, type Outage } from "./faults";

function projectorFor(tenant: string) {
	return env.INDEX_PROJECTOR.getByName(`shard-${shardOf(tenant, indexBindings(env).length)}`);
}

/** A fresh tenant whose index lives in shard `shard`. */
function tenantIn(shard: number): string {
	for (;;) {
		const tenant = newId("tenant");
		if (shardOf(tenant, indexBindings(env).length) === shard) return tenant;
	}
}

/** Puts `database` (a wrapper of the real binding) behind the shard's projector. */
async function useIndex(tenant: string, database: D1Database): Promise<void> {
	await runInDurableObject(projectorFor(tenant), (instance: IndexProjector) => {
		instance.index = new D1Projection(database);
	});
}

/** The real binding, with `onBatch` run around every batch call (counting, failing, holding). */
function aroundBatch(onBatch: (statements: D1PreparedStatement[], run: () => Promise<D1Result[]>) => Promise<D1Result[]>): D1Database {
	return new Proxy(env.DB, {
		get(target, property) {
			const value = Reflect.get(target, property, target);
			if (property !== "batch") return typeof value === "function" ? value.bind(target) : value;
			return (statements: D1PreparedStatement[]) => onBatch(statements, () => target.batch(statements));
		},
	});
}

async function indexedEvents(id: string, tenant = env.ADMIN_TENANT, database = indexDatabase(env, tenant)): Promise<number> {
	return (await database.prepare("SELECT count(*) AS n FROM events WHERE tenant = ? AND session_id = ?").bind(tenant, id).first<{ n: number }>())!.n;
}

async function projectionOf(id: string) {
	return (await callJson(`/v1/sessions/${id}`)).body.projection as { pending: number; lastError: string | null };
}

/** Creates sessions and drains their creation, so the next drain carries only what the test writes. */
async function drainedSessions(count: number): Promise<string[]> {
	const ids: string[] = [];
	for (let index = 0; index < count; index++) ids.push(await createSession());
	for (const id of ids) await runDurableObjectAlarm(sessionObject(id));
	return ids;
}

describe("index projector", () => {
	it("writes two sessions' drains to D1 in one call, their rows sharing statements", async () => {
		const [first, second] = await drainedSessions(2);
		const calls: number[] = [];
		await useIndex(
			env.ADMIN_TENANT,
			aroundBatch((statements, run) => {
				calls.push(statements.length);
				return run();
			}),
		);
		await callJson(`/v1/sessions/${first}/events`, { method: "POST", body: appendBody(3) });
		await callJson(`/v1/sessions/${second}/events`, { method: "POST", body: appendBody(3) });
		await Promise.all([runDurableObjectAlarm(sessionObject(first)), runDurableObjectAlarm(sessionObject(second))]);

		expect(await indexedEvents(first)).toBe(3);
		expect(await indexedEvents(second)).toBe(3);
		// One call: events, their text, the two session rows and the audit records, one multi-row statement each.
		expect(calls).toEqual([4]);
		expect(await projectionOf(first)).toEqual({ pending: 0, lastError: null });
	});

	it("keeps a session's changes in its outbox while the projector's D1 is down, then projects them once", async () => {
		const [id] = await drainedSessions(1);
		const outage: Outage = { down: true };
		await useIndex(env.ADMIN_TENANT, failingD1(env.DB, outage));
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(4) });
		await runDurableObjectAlarm(sessionObject(id));
		const lagging = await projectionOf(id);
		expect(lagging.pending).toBeGreaterThan(0);
		expect(lagging.lastError).toContain("injected outage");
		expect(await indexedEvents(id)).toBe(0);

		outage.down = false;
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(4);
		expect(await projectionOf(id)).toEqual({ pending: 0, lastError: null });
	});

	it("duplicates nothing when D1 committed but the answer was lost: the session sends again", async () => {
		const [id] = await drainedSessions(1);
		let lost = false;
		await useIndex(
			env.ADMIN_TENANT,
			aroundBatch(async (_statements, run) => {
				const results = await run();
				if (!lost) {
					lost = true;
					throw new Error("D1_ERROR: connection reset after commit");
				}
				return results;
			}),
		);
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(5) });
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(5);
		expect((await projectionOf(id)).lastError).toContain("after commit");

		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(5);
		const audit = await env.DB.prepare("SELECT count(*) AS n, count(DISTINCT seq) AS distinct_seqs FROM audit WHERE session_id = ?").bind(id).first<{ n: number; distinct_seqs: number }>();
		expect(audit!.n).toBe(audit!.distinct_seqs);
		expect(await projectionOf(id)).toEqual({ pending: 0, lastError: null });
	});

	it("gives up on a D1 call that never answers, and the sessions' rows arrive on their next drain", async () => {
		const [id] = await drainedSessions(1);
		await runInDurableObject(projectorFor(env.ADMIN_TENANT), (instance: IndexProjector) => {
			instance.commitDeadlineMs = 200;
			instance.index = new D1Projection(aroundBatch(() => new Promise<D1Result[]>(() => undefined)));
		});
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		await runDurableObjectAlarm(sessionObject(id));
		const lagging = await projectionOf(id);
		expect(lagging.pending).toBeGreaterThan(0);
		expect(lagging.lastError).toContain("did not answer");

		// The shard is not stalled behind the hung call: the next drain gets through.
		await useIndex(env.ADMIN_TENANT, env.DB);
		await runDurableObjectAlarm(sessionObject(id));
		expect(await indexedEvents(id)).toBe(2);
		expect(await projectionOf(id)).toEqual({ pending: 0, lastError: null });
	});

	it("keeps tenants apart when their sessions share a projector call", async () => {
		const [tenantA, tenantB] = [tenantIn(1), tenantIn(1)];
		const [keyA, keyB] = [await mintKey("writer", tenantA), await mintKey("writer", tenantB)];
		// The same session id in both tenants: only the tenant column tells their rows apart.
		const id = newId();
		await createSession({ id, key: keyA });
		await createSession({ id, key: keyB });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: keyA, body: appendBody(2) });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: keyB, body: appendBody(7) });
		await Promise.all([runDurableObjectAlarm(sessionObject(id, tenantA)), runDurableObjectAlarm(sessionObject(id, tenantB))]);

		expect(await indexedEvents(id, tenantA)).toBe(2);
		expect(await indexedEvents(id, tenantB)).toBe(7);
		const listed = await callJson(`/v1/sessions`, { key: keyA });
		expect(listed.body.sessions.map((session: { id: string; eventCount: number }) => [session.id, session.eventCount])).toEqual([[id, 2]]);
	});

	it("writes and reads each tenant's index in its own shard's database", async () => {
		const [home, other] = [tenantIn(0), tenantIn(1)];
		// An admin key for the tenant on shard 1: its audit trail is read too.
		const [homeKey, otherKey] = [await mintKey("writer", home), await mintKey("admin", other)];
		const [homeId, otherId] = [await createSession({ key: homeKey }), await createSession({ key: otherKey })];
		await callJson(`/v1/sessions/${homeId}/events`, { method: "POST", key: homeKey, body: appendBody(1, () => "shard zero words") });
		await callJson(`/v1/sessions/${otherId}/events`, { method: "POST", key: otherKey, body: appendBody(3, () => "shard one words") });
		await Promise.all([runDurableObjectAlarm(sessionObject(homeId, home)), runDurableObjectAlarm(sessionObject(otherId, other))]);

		expect([await indexedEvents(homeId, home, env.DB), await indexedEvents(homeId, home, env.INDEX_1)]).toEqual([1, 0]);
		expect([await indexedEvents(otherId, other, env.DB), await indexedEvents(otherId, other, env.INDEX_1)]).toEqual([0, 3]);
		// Reads go where the rows are: the list, the search and the audit trail of the tenant on shard 1.
		const listed = await callJson(`/v1/sessions`, { key: otherKey });
		expect(listed.body.sessions.map((session: { id: string }) => session.id)).toEqual([otherId]);
		const found = await callJson(`/v1/search?q=${encodeURIComponent("words")}`, { key: otherKey });
		expect(found.status).toBe(200);
		expect(new Set(found.body.hits.map((hit: { sessionId: string }) => hit.sessionId))).toEqual(new Set([otherId]));
		const trail = await callJson(`/v1/audit`, { key: otherKey });
		expect(trail.status).toBe(200);
		expect(trail.body.records.length).toBeGreaterThan(0);
	});
});

describe("coalesced statements", () => {
	const row = (id: string, version: number, status: "active" | "deleted" = "active"): SessionIndexRow => ({
		tenant: env.ADMIN_TENANT,
		id,
		status,
		agent: `v${version}`,
		subject: null,
		parentId: null,
		version,
		eventCount: version,
		tokensTotal: 0,
		createdAt: 0,
		updatedAt: version,
		deletedAt: status === "deleted" ? version : null,
		paused: 0,
		contextTokens: 0,
		modelWindow: 128_000,
	});
	const write = (id: string, version: number): IndexBatch => ({
		changes: [{ kind: "write", session: row(id, version), events: [{ seq: version, type: "note", role: null, name: null, tokens: 1, createdAt: 0 }] }],
	});

	it("keeps each session's highest version, whatever order the batches came in", async () => {
		const [first, second] = [newId(), newId()];
		await new D1Projection(env.DB).writeAll([write(first, 3), write(second, 1), write(first, 2), write(second, 4)]);
		const rows = await env.DB.prepare("SELECT id, version, agent FROM sessions WHERE id IN (?, ?) ORDER BY version").bind(first, second).all();
		expect(rows.results).toEqual([
			{ id: first, version: 3, agent: "v3" },
			{ id: second, version: 4, agent: "v4" },
		]);
	});

	it("applies a purge after the inserts written before it in the same call", async () => {
		const [purged, bystander] = [newId(), newId()];
		await new D1Projection(env.DB).writeAll([write(purged, 1), write(bystander, 1), { changes: [{ kind: "purge", session: row(purged, 2, "deleted") }] }, write(bystander, 2)]);
		expect(await indexedEvents(purged)).toBe(0);
		expect(await indexedEvents(bystander)).toBe(2);
		const tombstone = await env.DB.prepare("SELECT status FROM sessions WHERE id = ?").bind(purged).first();
		expect(tombstone).toEqual({ status: "deleted" });
	});

	it("spreads tenants over shards, always puts one tenant in the same shard, and refuses a list naming no D1", () => {
		const counts = [0, 0, 0, 0];
		for (let index = 0; index < 4000; index++) counts[shardOf(`tenant-${index}`, 4)]++;
		for (const count of counts) expect(count).toBeGreaterThan(800);
		expect(shardOf("acme", 4)).toBe(shardOf("acme", 4));
		expect(() => indexBindings({ ...env, INDEX_DATABASES: "DB,MISSING" })).toThrow(/MISSING, which is not a D1 binding/);
	});
});
