/**
 * Writes that interleave across an await inside the session object. Each case holds one
 * write at an R2 call (PauseGate), runs a competing write to completion, releases the first,
 * then reads storage back and checks the invariants every interleaving must keep:
 *   - nothing is committed into a tombstone, and nothing is left in R2 under a deleted session;
 *   - each event is archived at most once by the compactions in effect;
 *   - the context-token total equals the sum recomputed from the rows;
 *   - every event visible at the current version is in the window or counted in `omitted`;
 *   - every compaction in effect points at an archive that exists.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sessionPrefix } from "../src/blobs/blob-store";
import { failingR2, PauseGate, pausingR2 } from "./faults";
import { callJson, createSession, newId, runJobsUntilIdle, sessionObject, useBucket, waitFor } from "./helpers";

const policy = { modelWindowTokens: 1024, compactAtShare: 0.6, keepRecentEvents: 2 };
const bulky = (label: string) => ({ type: "tool_result", name: "search", content: `${label}: ${"a result line with several words ".repeat(30)}` });
const big = (char: string) => char.repeat(20_000);
const tenant = env.ADMIN_TENANT;

const archivePut = (method: string, key: string) => method === "put" && key.includes("/archives/");
const archiveGet = (method: string, key: string) => method === "get" && key.includes("/archives/");
const blobPut = (method: string, key: string) => method === "put" && key.includes("/blobs/");

async function append(id: string, ...events: Array<Record<string, unknown>>) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } });
	expect(result.status).toBe(201);
	return result.body;
}

async function appendBulky(id: string, count: number, label = "r") {
	return append(id, ...Array.from({ length: count }, (_, index) => bulky(`${label}${index}`)));
}

/** Holds the first R2 call of the session's object that `match` selects. */
async function gate(id: string, match: (method: string, key: string) => boolean): Promise<PauseGate> {
	const held = new PauseGate(match);
	await useBucket(id, pausingR2(env.BLOBS, held));
	return held;
}

/** Lets a released write run to its end: its held call finishes, then its commit and clean-up. */
async function settle(held: PauseGate, pending?: Promise<unknown>) {
	held.release();
	await held.completed;
	await pending;
	await new Promise((resolve) => setTimeout(resolve, 200));
}

async function r2Keys(id: string): Promise<string[]> {
	const listed = await env.BLOBS.list({ prefix: sessionPrefix(tenant, id) });
	return listed.objects.map((object) => object.key);
}

const CONTENT_TABLES = ["events", "state", "state_log", "compactions", "archived_events", "restores", "checkpoints", "idempotency"];

interface Stored {
	status: string;
	version: number;
	contextTokens: number;
	summaryTokens: number;
	recomputedContextTokens: number;
	summaryInEffect: number;
	visibleSeqs: number[];
	archivedByVisible: number[];
	archiveKeys: string[];
	contentRows: Record<string, number>;
}

/** Reads the object's tables directly, with the visibility rule written out independently. */
async function readStored(id: string): Promise<Stored> {
	return runInDurableObject(sessionObject(id), (_instance, state) => {
		const sql = state.storage.sql;
		const session = sql.exec<{ status: string; version: number; context_tokens: number; summary_tokens: number }>("SELECT * FROM session").one();
		const contentRows = Object.fromEntries(
			CONTENT_TABLES.map((table) => [table, sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n]),
		);
		// Writes in effect at V: versions in (R-1, V] for the latest restore R <= V, then recursively at its target.
		const intervals: Array<[number, number]> = [];
		let through = session.version;
		for (;;) {
			const restore = sql
				.exec<{ version: number; target_version: number }>("SELECT version, target_version FROM restores WHERE version <= ? ORDER BY version DESC LIMIT 1", through)
				.toArray()[0];
			if (!restore) {
				intervals.push([0, through]);
				break;
			}
			intervals.push([restore.version - 1, through]);
			through = restore.target_version;
		}
		const visible = (version: number) => intervals.some(([after, upTo]) => version > after && version <= upTo);
		const events = sql
			.exec<{ seq: number; version: number; tokens: number; preview_tokens: number | null; blob_sha256: string | null; archived_by: number | null }>(
				"SELECT seq, version, tokens, preview_tokens, blob_sha256, archived_by FROM events ORDER BY seq",
			)
			.toArray()
			.filter((event) => visible(event.version));
		const compactions = sql
			.exec<{ id: number; version: number; summary_tokens: number; archive_key: string | null }>("SELECT id, version, summary_tokens, archive_key FROM compactions ORDER BY version")
			.toArray()
			.filter((compaction) => visible(compaction.version));
		const archivedByVisible = compactions.flatMap((compaction) =>
			sql.exec<{ seq: number }>("SELECT seq FROM archived_events WHERE compaction_id = ?", compaction.id).toArray().map((row) => row.seq),
		);
		return {
			status: session.status,
			version: session.version,
			contextTokens: session.context_tokens,
			summaryTokens: session.summary_tokens,
			recomputedContextTokens: events
				.filter((event) => event.archived_by === null)
				.reduce((sum, event) => sum + (event.blob_sha256 ? (event.preview_tokens ?? 0) : event.tokens), 0),
			summaryInEffect: compactions.at(-1)?.summary_tokens ?? 0,
			visibleSeqs: events.map((event) => event.seq),
			archivedByVisible,
			archiveKeys: compactions.flatMap((compaction) => (compaction.archive_key ? [compaction.archive_key] : [])),
			contentRows,
		};
	});
}

/** The invariants of a live session after any interleaving. */
async function expectConsistent(id: string) {
	const stored = await readStored(id);
	expect(stored.status).toBe("active");
	expect(new Set(stored.archivedByVisible).size, "an event archived twice").toBe(stored.archivedByVisible.length);
	expect(stored.contextTokens, "context tokens drifted from the rows").toBe(stored.recomputedContextTokens);
	expect(stored.summaryTokens).toBe(stored.summaryInEffect);
	const window = await callJson(`/v1/sessions/${id}/context?budget=10000000`);
	expect(window.status).toBe(200);
	expect(window.body.version).toBe(stored.version);
	const inWindow = new Set<number>(window.body.items.filter((item: { seq?: number }) => item.seq !== undefined).map((item: { seq: number }) => item.seq));
	const archived = new Set(stored.archivedByVisible);
	const missing = stored.visibleSeqs.filter((seq) => !inWindow.has(seq) && !archived.has(seq));
	expect(missing, "events visible now but neither in the window nor omitted").toEqual([]);
	const compacted = window.body.omitted.find((omission: { reason: string }) => omission.reason === "compacted")?.count ?? 0;
	expect(compacted).toBe(archived.size);
	for (const key of stored.archiveKeys) expect(await env.BLOBS.head(key), `archive ${key} is missing`).not.toBeNull();
	return stored;
}

/** The invariants of a deleted session: a content-free tombstone at its deletion's version, nothing in R2. */
async function expectErased(id: string, tombstoneVersion: number) {
	const stored = await readStored(id);
	expect(stored.status).toBe("deleted");
	expect(stored.version, "a write committed into the tombstone").toBe(tombstoneVersion);
	expect(stored.contentRows).toEqual(Object.fromEntries(CONTENT_TABLES.map((table) => [table, 0])));
	await waitFor("R2 to be empty under the deleted session", async () => (await r2Keys(id)).length === 0).catch(async () => {
		expect(await r2Keys(id), "R2 objects outlived the deletion").toEqual([]);
	});
}

async function deleteNow(id: string): Promise<number> {
	const deleted = await callJson(`/v1/sessions/${id}`, { method: "DELETE" });
	expect([200, 202]).toContain(deleted.status);
	return (await readStored(id)).version;
}

/** A session whose checkpoint "cp" sees events that a compaction then archived. */
async function sessionWithCompactedCheckpoint() {
	const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
	await appendBulky(id, 10);
	expect((await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "cp" } })).status).toBe(201);
	const first = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: { upToSeq: 4 } });
	expect(first.body.compacted).toBe(true);
	await appendBulky(id, 2, "after");
	return id;
}

describe("interleavings against delete", () => {
	it("an alarm compaction held at its archive upload commits nothing into a session deleted meanwhile, and leaves nothing in R2", async () => {
		const id = await createSession({ body: { policy } });
		const held = await gate(id, archivePut);
		await appendBulky(id, 6);
		void runDurableObjectAlarm(sessionObject(id)).catch(() => undefined);
		await held.reached;
		const tombstone = await deleteNow(id);
		await settle(held);
		await expectErased(id, tombstone);
	});

	it("a requested compaction held at its archive upload answers 410 and leaves nothing in R2", async () => {
		const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
		await appendBulky(id, 6);
		const held = await gate(id, archivePut);
		const compaction = callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		await held.reached;
		const tombstone = await deleteNow(id);
		await settle(held, compaction);
		expect((await compaction).status).toBe(410);
		await expectErased(id, tombstone);
	});

	it("an append held at its R2 upload answers 410 and leaves nothing in R2", async () => {
		const id = await createSession();
		const held = await gate(id, blobPut);
		const appended = callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "tool_result", content: big("a") }] } });
		await held.reached;
		const tombstone = await deleteNow(id);
		await settle(held, appended);
		expect((await appended).status).toBe(410);
		await expectErased(id, tombstone);
	});

	it("a state put held at its R2 upload answers 410 and leaves nothing in R2", async () => {
		const id = await createSession();
		const held = await gate(id, blobPut);
		const put = callJson(`/v1/sessions/${id}/state/kv/big`, { method: "PUT", body: { value: big("s") } });
		await held.reached;
		const tombstone = await deleteNow(id);
		await settle(held, put);
		expect((await put).status).toBe(410);
		await expectErased(id, tombstone);
	});

	it("a restore held reading an archive answers 410 and commits nothing", async () => {
		const id = await sessionWithCompactedCheckpoint();
		const held = await gate(id, archiveGet);
		const restore = callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } });
		await held.reached;
		const tombstone = await deleteNow(id);
		await settle(held, restore);
		expect((await restore).status).toBe(410);
		await expectErased(id, tombstone);
	});

	it("a fork held copying its blobs does not leave them behind when its id is created and deleted meanwhile", async () => {
		const parent = await createSession();
		await append(parent, { type: "tool_result", content: big("f") });
		const forkId = newId("fork");
		const held = new PauseGate((method, key) => method === "put" && key.startsWith(sessionPrefix(tenant, forkId)));
		await useBucket(forkId, pausingR2(env.BLOBS, held));
		const fork = callJson(`/v1/sessions/${parent}/fork`, { method: "POST", body: { id: forkId } });
		await held.reached;
		await createSession({ id: forkId });
		const tombstone = await deleteNow(forkId);
		await settle(held, fork);
		expect((await fork).status).toBe(410);
		await expectErased(forkId, tombstone);
	});
});

describe("interleavings of compaction and restore", () => {
	it("two compactions planned on the same basis archive each event once and keep the token totals exact", async () => {
		const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
		await appendBulky(id, 8);
		const held = await gate(id, archivePut);
		const first = callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		await held.reached;
		const second = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(second.status).toBe(200);
		expect(second.body.compacted).toBe(true);
		await settle(held, first);
		expect([200, 409]).toContain((await first).status);
		await expectConsistent(id);
	});

	it("an alarm compaction held at its upload while a requested one commits archives each event once", async () => {
		const id = await createSession({ body: { policy } });
		const held = await gate(id, archivePut);
		await appendBulky(id, 6);
		void runDurableObjectAlarm(sessionObject(id)).catch(() => undefined);
		await held.reached;
		const requested = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(requested.status).toBe(200);
		await settle(held);
		await runJobsUntilIdle(id);
		await expectConsistent(id);
	});

	it("a restore held reading an archive while a compaction commits keeps every event of the checkpoint visible", async () => {
		const id = await sessionWithCompactedCheckpoint();
		const held = await gate(id, archiveGet);
		const restore = callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } });
		await held.reached;
		const compaction = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(compaction.body.compacted).toBe(true);
		await settle(held, restore);
		expect((await restore).status).toBe(200);
		const stored = await expectConsistent(id);
		expect(stored.visibleSeqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
	});

	it("a compaction held at its upload while a restore commits re-plans on the restored session", async () => {
		const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
		await appendBulky(id, 5);
		expect((await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "cp" } })).status).toBe(201);
		await appendBulky(id, 5, "later");
		const held = await gate(id, archivePut);
		const compaction = callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		await held.reached;
		expect((await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } })).status).toBe(200);
		await settle(held, compaction);
		expect([200, 409]).toContain((await compaction).status);
		const stored = await expectConsistent(id);
		expect(stored.visibleSeqs).toEqual([1, 2, 3, 4, 5]);
	});

	it("an append held at its R2 upload while a compaction commits lands with exact token totals", async () => {
		const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
		await appendBulky(id, 6);
		const held = await gate(id, blobPut);
		const appended = callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "tool_result", content: big("c") }] } });
		await held.reached;
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		await settle(held, appended);
		expect((await appended).status).toBe(201);
		await expectConsistent(id);
	});

	it("an append held at its R2 upload while a restore commits lands after the restore", async () => {
		const id = await createSession();
		await appendBulky(id, 3);
		expect((await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "cp" } })).status).toBe(201);
		await appendBulky(id, 2, "later");
		const held = await gate(id, blobPut);
		const appended = callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "tool_result", content: big("d") }] } });
		await held.reached;
		expect((await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } })).status).toBe(200);
		await settle(held, appended);
		expect((await appended).status).toBe(201);
		const stored = await expectConsistent(id);
		expect(stored.visibleSeqs).toEqual([1, 2, 3, 6]);
	});
});

describe("timers", () => {
	it("retries an alarm compaction that failed on R2, and compacts once R2 is back", async () => {
		const id = await createSession({ body: { policy } });
		const outage = { down: true };
		await useBucket(id, failingR2(env.BLOBS, outage));
		await appendBulky(id, 6);
		await runDurableObjectAlarm(sessionObject(id));
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(0);
		outage.down = false;
		await waitFor("a compaction after R2 recovered", async () => {
			await runDurableObjectAlarm(sessionObject(id));
			return (await callJson(`/v1/sessions/${id}`)).body.compactions > 0;
		}, 10_000);
		await runJobsUntilIdle(id);
		await expectConsistent(id);
	});

	it("compacts by timer while an agent holds the writer lease: upkeep is not fenced", async () => {
		const id = await createSession({ body: { policy } });
		const lease = await callJson(`/v1/sessions/${id}/lease`, { method: "POST", body: { holder: "agent-a", ttlSeconds: 300 } });
		expect(lease.status).toBe(200);
		const appended = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			headers: { "lease-token": String(lease.body.token) },
			body: { events: Array.from({ length: 6 }, (_, index) => bulky(`r${index}`)) },
		});
		expect(appended.status).toBe(201);
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBeGreaterThan(0);
	});

	it("parks a timer that keeps failing as a dead letter the session reports, and revives it on the next request", async () => {
		const id = await createSession({ body: { policy } });
		const outage = { down: true };
		await useBucket(id, failingR2(env.BLOBS, outage));
		await appendBulky(id, 6);
		await waitFor("the compaction timer to be parked", async () => {
			// Each read queues a drain of its audit record, which a forced alarm runs first.
			await runDurableObjectAlarm(sessionObject(id));
			await runDurableObjectAlarm(sessionObject(id));
			const session = (await callJson(`/v1/sessions/${id}`)).body;
			return session.deadLetters.length > 0 ? session : null;
		}, 20_000).then((session) => {
			expect(session.deadLetters[0]).toMatchObject({ kind: "compact", attempts: 10, lastError: expect.stringContaining("dependency_unavailable") });
			expect(session.compactions).toBe(0);
		});
		outage.down = false;
		await append(id, bulky("one more"));
		await runJobsUntilIdle(id);
		const session = (await callJson(`/v1/sessions/${id}`)).body;
		expect(session.deadLetters).toEqual([]);
		expect(session.compactions).toBeGreaterThan(0);
	});
});
