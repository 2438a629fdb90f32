import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, mintKey, runJobsUntilIdle, sessionObject } from "./helpers";

interface AuditRecord {
	seq: number;
	sessionId: string;
	principal: string;
	agent: string | null;
	operation: string;
	version: number;
	what: Record<string, unknown> | null;
	requestId: string | null;
}

async function trail(id: string, query = ""): Promise<AuditRecord[]> {
	const page = await callJson(`/v1/sessions/${id}/audit?limit=500${query}`);
	expect(page.status).toBe(200);
	return page.body.records;
}

/** The query string that asks for the window an audit record describes, at its version. */
function windowQuery(record: AuditRecord): string {
	const params = new URLSearchParams();
	for (const [name, value] of Object.entries(record.what ?? {})) {
		if (name === "at" || value === undefined || value === null) continue;
		params.set(name, Array.isArray(value) ? value.join(",") : String(value));
	}
	params.set("at", String(record.version));
	return params.toString();
}

describe("audit trail", () => {
	it("records every window served, and each record rebuilds the same window after later writes and compactions", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 2 } } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(6, (index) => `finding ${index} about the refund`) });
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: "refund order 17", pinned: true } });
		const served = [
			(await callJson(`/v1/sessions/${id}/context?budget=300`)).body,
			(await callJson(`/v1/sessions/${id}/context?budget=2000&types=note`)).body,
		];
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3, (index) => `later ${index}`) });
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: "changed goal" } });
		served.push((await callJson(`/v1/sessions/${id}/context?budget=800&at=5`)).body);
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);

		const reads = (await trail(id)).filter((record) => record.operation === "getContext");
		expect(reads).toHaveLength(3);
		for (const [index, record] of reads.entries()) {
			expect(record.version).toBe(served[index].version);
			const rebuilt = await callJson(`/v1/sessions/${id}/context?${windowQuery(record)}`);
			expect(rebuilt.status).toBe(200);
			expect(rebuilt.body.items, `window ${index}`).toEqual(served[index].items);
		}
	});

	it("records every read and write with the caller, the request id and what it touched, never values", async () => {
		const id = await createSession();
		const reader = await mintKey("reader");
		const write = await callJson(`/v1/sessions/${id}/state/customer/email`, { method: "PUT", body: { value: "ada@example.com" } });
		const read = await callJson(`/v1/sessions/${id}/state/customer/email`, { key: reader });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(2) });
		await callJson(`/v1/sessions/${id}/events?after=0`, { key: reader });
		const records = await trail(id);
		expect(records.map((record) => record.operation)).toEqual(["createSession", "putState", "getState", "appendEvents", "listEvents"]);
		expect(records[1]).toMatchObject({ principal: "bootstrap", what: { ns: "customer", key: "email" }, requestId: write.headers.get("x-request-id"), version: 2 });
		expect(records[2]).toMatchObject({ principal: expect.stringMatching(/^key:/), operation: "getState", version: 2, requestId: read.headers.get("x-request-id") });
		expect(JSON.stringify(records)).not.toContain("ada@example.com");
		expect((await trail(id, `&principal=${records[2].principal}`)).map((record) => record.operation)).toEqual(["getState", "listEvents"]);
		// Durable: the records are in the object's storage, not its memory.
		await evictDurableObject(sessionObject(id));
		expect((await trail(id)).length).toBeGreaterThanOrEqual(5);
	});

	it("does not record what was refused: a stale write, an out-of-range read", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: 1 } });
		expect((await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: 2, ifVersion: 99 } })).status).toBe(409);
		expect((await callJson(`/v1/sessions/${id}/context?budget=100&at=99`)).status).toBe(400);
		expect((await trail(id)).map((record) => record.operation)).toEqual(["createSession", "putState"]);
	});

	it("pages the tenant's trail from D1 by principal and time", async () => {
		const first = await createSession();
		const second = await createSession();
		const reader = await mintKey("reader");
		const started = new Date().toISOString();
		for (const id of [first, second]) {
			await callJson(`/v1/sessions/${id}/context?budget=500`, { key: reader });
			await callJson(`/v1/sessions/${id}/state/notes`, { key: reader });
		}
		await runJobsUntilIdle(first);
		await runJobsUntilIdle(second);
		const principal = (await trail(first)).find((record) => record.operation === "getContext")?.principal;
		const pageOne = await callJson(`/v1/audit?principal=${principal}&from=${started}&limit=3`);
		expect(pageOne.status).toBe(200);
		expect(pageOne.body.records).toHaveLength(3);
		const pageTwo = await callJson(`/v1/audit?principal=${principal}&from=${started}&limit=3&cursor=${pageOne.body.nextCursor}`);
		const all = [...pageOne.body.records, ...pageTwo.body.records];
		expect(all.map((record: AuditRecord) => `${record.sessionId}:${record.operation}`).sort()).toEqual(
			[`${first}:getContext`, `${first}:listState`, `${second}:getContext`, `${second}:listState`].sort(),
		);
		expect(pageTwo.body.nextCursor).toBeNull();
		expect((await callJson("/v1/audit?cursor=nonsense")).status).toBe(400);
	});

	it("keeps a week of records in the session once D1 has them; D1 keeps them all", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/context?budget=100`);
		await runJobsUntilIdle(id);
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE audit SET at = at - ?", 8 * 86_400_000);
		});
		await callJson(`/v1/sessions/${id}/state/notes`);
		await runJobsUntilIdle(id);
		expect((await trail(id)).map((record) => record.operation)).toEqual(["listState"]);
		const inD1 = await env.DB.prepare("SELECT count(*) AS n FROM audit WHERE session_id = ?").bind(id).first<{ n: number }>();
		expect(inD1?.n).toBe(3);
	});

	it("never gives a seq twice, even once every record has left the session for D1", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/context?budget=100`);
		await callJson(`/v1/sessions/${id}/state/notes`);
		await runJobsUntilIdle(id);
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE audit SET at = at - ?", 8 * 86_400_000);
		});
		// A drain with nothing new to send still lets go of old rows the next time it marks: one more read.
		await callJson(`/v1/sessions/${id}/state/notes`);
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE audit SET at = at - ?", 8 * 86_400_000);
		});
		await runJobsUntilIdle(id);
		expect(await trail(id)).toEqual([]);

		await callJson(`/v1/sessions/${id}/state/notes`);
		await runJobsUntilIdle(id);
		const inD1 = await env.DB.prepare("SELECT seq FROM audit WHERE session_id = ? ORDER BY seq").bind(id).all<{ seq: number }>();
		// A repeated seq would be dropped by D1's insert-or-ignore. Six records: the create, the
		// window, three reads of the state and the read of the trail (itself audited).
		expect(inD1.results.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5, 6]);
		expect((await trail(id)).map((record) => record.operation)).toEqual(["listAudit", "listState"]);
	});

	it("is for admins: a reader or writer gets 403", async () => {
		const id = await createSession();
		for (const role of ["reader", "writer"] as const) {
			const refused = await callJson(`/v1/sessions/${id}/audit`, { key: await mintKey(role) });
			expect(refused.status).toBe(403);
			expect(refused.body.error.code).toBe("operation_out_of_scope");
			expect((await callJson("/v1/audit", { key: await mintKey(role) })).status).toBe(403);
		}
	});
});
