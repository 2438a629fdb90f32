import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { D1Projection } from "../src/db/projection";
import type { ErasureObject } from "../src/erasure/coordinator";
import { type PublicKeyJwk, verifyReceipt } from "../src/erasure/receipts";
import { newSessionId } from "../src/operations/session-ids";
import type { SessionObject } from "../src/session/session-object";
import { failingD1, failingR2 } from "./faults";
import { call, callJson, createSession, mintKey, newId, runJobsUntilIdle, sessionObject, useBucket, waitFor } from "./helpers";

const tenant = env.ADMIN_TENANT;

/** The erasure id the API derives from an Idempotency-Key, to reach its object before it runs. */
async function erasureIdFor(key: string): Promise<string> {
	return `era_${(await newSessionId(`erasure\n${tenant}\n${key}`)).slice(4, 28)}`;
}

function erasureObject(id: string) {
	return env.ERASURE.getByName(`${tenant}/${id}`);
}

/** A session with content in every store: events, state, a blob in R2, a compaction archive, an approval. */
async function richSession(subject: string): Promise<string> {
	const id = await createSession({ body: { subject, policy: { keepRecentEvents: 1 } } });
	await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "message", role: "user", content: `I am ${subject}, my card ends 4242` }, { type: "note", content: "x".repeat(20_000) }, { type: "note", content: "third" }] } });
	await callJson(`/v1/sessions/${id}/state/customer/email`, { method: "PUT", body: { value: `${subject}@example.com` } });
	expect((await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: { title: "refund", summary: `refund for ${subject}`, requestedBy: "agent" } })).status).toBe(201);
	expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
	await callJson(`/v1/sessions/${id}/context?budget=500`);
	await runJobsUntilIdle(id);
	return id;
}

/** R2 that lists and reads, but fails every delete while the outage lasts. */
function failingDeletes(bucket: R2Bucket, outage: { down: boolean }): R2Bucket {
	const deletes = failingR2(bucket, outage);
	return new Proxy(bucket, {
		get: (target, property) => {
			if (property === "delete") return deletes.delete.bind(deletes);
			const value = Reflect.get(target, property, target);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

async function r2Keys(id: string): Promise<string[]> {
	return (await env.BLOBS.list({ prefix: `t/${tenant}/s/${id}/` })).objects.map((object) => object.key);
}

async function d1Rows(id: string) {
	const count = async (sql: string) => (await env.DB.prepare(sql).bind(tenant, id).first<{ n: number }>())?.n ?? 0;
	return {
		events: await count("SELECT count(*) AS n FROM events WHERE tenant = ? AND session_id = ?"),
		searchText: await count("SELECT count(*) AS n FROM event_text WHERE tenant = ? AND session_id = ?"),
		compactions: await count("SELECT count(*) AS n FROM compactions WHERE tenant = ? AND session_id = ?"),
		approvals: await count("SELECT count(*) AS n FROM approvals WHERE tenant = ? AND session_id = ?"),
		auditWithContent: await count("SELECT count(*) AS n FROM audit WHERE tenant = ? AND session_id = ? AND what IS NOT NULL"),
		audit: await count("SELECT count(*) AS n FROM audit WHERE tenant = ? AND session_id = ?"),
	};
}

/** Every table of the session's object that has rows, with its row count. */
async function objectTables(id: string): Promise<Record<string, number>> {
	return runInDurableObject(sessionObject(id), (_instance, state) => {
		// An empty FTS5 index keeps its settings and an empty structure record: no content (search.test.ts checks its words).
		const tables = state.storage.sql
			.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('search_index_config', 'search_index_data')")
			.toArray();
		return Object.fromEntries(
			tables.map((table) => [table.name, state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM "${table.name}"`).one().n] as const).filter(([, rows]) => rows > 0),
		);
	});
}

async function untilComplete(erasureId: string) {
	return waitFor(
		"the erasure to complete",
		async () => {
			await runDurableObjectAlarm(erasureObject(erasureId)).catch(() => undefined);
			const status = await callJson(`/v1/erasures/${erasureId}`);
			return status.body.status === "complete" ? status.body : null;
		},
		30_000,
	);
}

describe("erasure by subject", () => {
	it("completes once D1 and R2 recover, leaves no content in any store, and signs a receipt", async () => {
		const subject = `user:${crypto.randomUUID()}`;
		const [first, second] = [await richSession(subject), await richSession(subject)];
		const bystander = await richSession(`user:${crypto.randomUUID()}`);
		expect((await r2Keys(first)).length).toBeGreaterThan(0);

		// The first session's R2 deletes fail (after its content is deleted, midway through the
		// purge), the second's D1 fails, and so does the index the erasure reads.
		const outage = { down: true };
		const indexOutage = { down: true };
		await useBucket(first, failingDeletes(env.BLOBS, outage));
		await runInDurableObject(sessionObject(second), (instance: SessionObject) => {
			instance.dependencies.projection = new D1Projection(failingD1(env.DB, outage));
		});
		const key = crypto.randomUUID();
		const erasureId = await erasureIdFor(key);
		await runInDurableObject(erasureObject(erasureId), (instance: ErasureObject) => {
			instance.dependencies.index = () => failingD1(env.DB, indexOutage);
		});

		const started = await callJson(`/v1/subjects/${encodeURIComponent(subject)}/erasure`, { method: "POST", body: { mode: "tombstone" }, headers: { "idempotency-key": key } });
		expect(started.status).toBe(202);
		expect(started.body).toMatchObject({ id: erasureId, status: "running", mode: "tombstone" });
		expect(started.headers.get("location")).toBe(`/v1/erasures/${erasureId}`);
		const stuck = await waitFor("a failed step", async () => {
			await runDurableObjectAlarm(erasureObject(erasureId)).catch(() => undefined);
			const status = (await callJson(`/v1/erasures/${erasureId}`)).body;
			return status.lastError ? status : null;
		});
		expect(stuck.status).toBe("running");
		expect(stuck.sessions).toEqual([]);
		// The same request again is the same erasure.
		expect((await callJson(`/v1/subjects/${encodeURIComponent(subject)}/erasure`, { method: "POST", body: { mode: "tombstone" }, headers: { "idempotency-key": key } })).body.id).toBe(erasureId);

		// The index is back: both sessions are found, and each stops where its failing store stops it.
		indexOutage.down = false;
		const midway = await waitFor("both sessions to be found and held up", async () => {
			await runDurableObjectAlarm(erasureObject(erasureId)).catch(() => undefined);
			const status = (await callJson(`/v1/erasures/${erasureId}`)).body;
			return status.sessions.length === 2 && status.lastError?.includes(first) && status.lastError?.includes(second) ? status : null;
		}, 15_000);
		expect(midway.status).toBe("running");
		expect(midway.sessions.map((session: { state: string }) => session.state)).toEqual(["pending", "pending"]);
		expect((await callJson(`/v1/sessions/${first}`)).status).toBe(410);
		expect((await r2Keys(first)).length).toBeGreaterThan(0);
		expect((await callJson(`/v1/sessions/${second}/state/customer/email`)).status).toBe(200);

		outage.down = false;
		const done = await untilComplete(erasureId);
		expect(done.sessions.map((session: { sessionId: string; state: string }) => [session.sessionId, session.state]).sort()).toEqual([
			[first, "erased"],
			[second, "erased"],
		].sort());
		expect(done.receipt).toMatchObject({ erasureId, mode: "tombstone", sessions: [first, second].sort() });
		expect(done.receipt.subject).toMatch(/^[0-9a-f]{64}$/);
		expect(JSON.stringify(done)).not.toContain(subject);
		expect(done.receipt.counts.r2Objects).toBeGreaterThanOrEqual(2);
		expect(done.receipt.counts.objectRows).toBeGreaterThan(0);
		expect(done.receipt.counts.d1Rows).toBeGreaterThan(0);
		expect(done.receipt.counts.auditRedacted).toBeGreaterThan(0);

		for (const id of [first, second]) {
			expect(await r2Keys(id), id).toEqual([]);
			expect(await d1Rows(id)).toMatchObject({ events: 0, searchText: 0, compactions: 0, approvals: 0, auditWithContent: 0 });
			expect((await d1Rows(id)).audit).toBeGreaterThan(0);
			const tombstone = await env.DB.prepare("SELECT * FROM sessions WHERE tenant = ? AND id = ?").bind(tenant, id).first<Record<string, unknown>>();
			expect(tombstone).toMatchObject({ status: "deleted", subject: null, agent: null });
			// Wiped: the tombstone, the erasure's counts and three marks (outbox ids, events projected, events indexed); the audit facts live on in D1, redacted.
			const tables = await objectTables(id);
			expect(Object.keys(tables).sort()).toEqual(["audit_projection", "erasure", "event_projection", "outbox_mark", "schema_version", "search_progress", "session"].sort());
			const session = await callJson(`/v1/sessions/${id}`);
			expect(session.status).toBe(410);
		}
		// Another subject's session is untouched.
		expect((await callJson(`/v1/sessions/${bystander}/state/customer/email`)).status).toBe(200);
		expect((await r2Keys(bystander)).length).toBeGreaterThan(0);
	}, 60_000);

	it("publishes a key that verifies the receipt, and the verification fails when the receipt is altered", async () => {
		const subject = `user:${crypto.randomUUID()}`;
		await richSession(subject);
		const started = await callJson(`/v1/subjects/${encodeURIComponent(subject)}/erasure`, { method: "POST", body: {} });
		const done = await untilComplete(started.body.id);
		const published = await call("/v1/erasures/public-key", { key: null });
		expect(published.status).toBe(200);
		const [publicKey] = ((await published.json()) as { keys: PublicKeyJwk[] }).keys;
		expect(done.signature.keyId).toBe(publicKey.kid);
		expect(done.receipt.publicKey).toMatch(/\/v1\/erasures\/public-key$/);
		expect(await verifyReceipt(publicKey, done.receipt, done.signature.value)).toBe(true);
		expect(await verifyReceipt(publicKey, { ...done.receipt, sessions: [] }, done.signature.value)).toBe(false);
		expect(await verifyReceipt(publicKey, { ...done.receipt, counts: { ...done.receipt.counts, r2Objects: 0 } }, done.signature.value)).toBe(false);
	});

	it("in purge mode leaves no session at all: 404, and no index row", async () => {
		const subject = `user:${crypto.randomUUID()}`;
		const id = await richSession(subject);
		const started = await callJson(`/v1/subjects/${encodeURIComponent(subject)}/erasure`, { method: "POST", body: { mode: "purge" } });
		await untilComplete(started.body.id);
		expect((await callJson(`/v1/sessions/${id}`)).status).toBe(404);
		expect(await env.DB.prepare("SELECT * FROM sessions WHERE tenant = ? AND id = ?").bind(tenant, id).first()).toBeNull();
		expect(Object.keys(await objectTables(id)).sort()).toEqual(["audit_projection", "event_projection", "outbox_mark", "schema_version", "search_progress"].sort());
		// The id can be used again; its new audit records follow the old ones in D1 rather than colliding.
		const before = await d1Rows(id);
		expect((await callJson("/v1/sessions", { method: "POST", body: { id } })).status).toBe(201);
		await callJson(`/v1/sessions/${id}/context?budget=100`);
		await runJobsUntilIdle(id);
		const after = await d1Rows(id);
		expect(after.audit).toBe(before.audit + 2);
		expect(after.auditWithContent).toBe(2);
	});

	it("completes an erasure of an unknown subject with an empty receipt", async () => {
		const started = await callJson(`/v1/subjects/nobody-${newId()}/erasure`, { method: "POST", body: { mode: "purge" } });
		expect(started.status).toBe(202);
		const done = await untilComplete(started.body.id);
		expect(done.receipt).toMatchObject({ sessions: [], counts: { objectRows: 0, r2Objects: 0, d1Rows: 0, auditRedacted: 0 } });
	});

	it("refuses bad requests with 4xx and starts nothing", async () => {
		expect((await callJson("/v1/subjects/x/erasure", { method: "POST", body: { mode: "shred" } })).status).toBe(400);
		expect((await callJson("/v1/subjects/x/erasure", { method: "POST", key: await mintKey("writer"), body: {} })).status).toBe(403);
		expect((await callJson("/v1/erasures/era_000000000000000000000000")).status).toBe(404);
		expect((await callJson("/v1/erasures/nonsense")).status).toBe(400);
		// An Idempotency-Key names one erasure: reused for another subject it is refused.
		const key = crypto.randomUUID();
		expect((await callJson("/v1/subjects/someone/erasure", { method: "POST", body: {}, headers: { "idempotency-key": key } })).status).toBe(202);
		const reused = await callJson("/v1/subjects/someone-else/erasure", { method: "POST", body: {}, headers: { "idempotency-key": key } });
		expect(reused.status).toBe(422);
		expect(reused.body.error.code).toBe("idempotency_key_reused");
	});
});
