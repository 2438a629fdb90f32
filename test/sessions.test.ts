import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, newId, runJobsUntilIdle, sessionObject } from "./helpers";

describe("sessions", () => {
	it("creates a session with a client-chosen id and reads it back at version 1", async () => {
		const id = newId("user:42");
		const created = await callJson("/v1/sessions", {
			method: "POST",
			body: { id, agent: "research", subject: "crdts", metadata: { a: 1 }, policy: { inlineLimitBytes: 2048 } },
		});
		expect(created.status).toBe(201);
		expect(created.body).toMatchObject({ id, status: "active", agent: "research", subject: "crdts", version: 1, eventCount: 0 });
		const read = await callJson(`/v1/sessions/${id}`);
		expect(read.status).toBe(200);
		expect(read.body).toMatchObject({ id, version: 1, metadata: { a: 1 }, policy: { inlineLimitBytes: 2048 }, tokens: { total: 0 } });
		expect(read.headers.get("etag")).toBe('"1"');
	});

	it("generates an id when none is given", async () => {
		const created = await callJson("/v1/sessions", { method: "POST", body: {} });
		expect(created.status).toBe(201);
		expect(created.body.id).toMatch(/^ses_[0-9a-f]{32}$/);
	});

	it("returns 409 session_exists for a second create of the same id, leaving the first untouched", async () => {
		const id = await createSession({ body: { agent: "first" } });
		const again = await callJson("/v1/sessions", { method: "POST", body: { id, agent: "second" } });
		expect(again.status).toBe(409);
		expect(again.body.error.code).toBe("session_exists");
		expect((await callJson(`/v1/sessions/${id}`)).body.agent).toBe("first");
	});

	it("returns 404 session_not_found for a session that was never created", async () => {
		const missing = await callJson(`/v1/sessions/${newId()}`);
		expect(missing.status).toBe(404);
		expect(missing.body.error.code).toBe("session_not_found");
	});

	it("reports event counts and token totals", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(3, () => "hello world") });
		const read = await callJson(`/v1/sessions/${id}`);
		expect(read.body).toMatchObject({ version: 2, eventCount: 3, lastSeq: 3 });
		expect(read.body.tokens.total).toBe(6); // "hello world" is 2 o200k tokens
	});

	it("lists sessions from the D1 index with filters and cursor pagination", async () => {
		const agent = newId("agent");
		const ids: string[] = [];
		for (let index = 0; index < 5; index++) {
			const id = await createSession({ body: { agent, subject: index % 2 === 0 ? "even" : "odd" } });
			await runJobsUntilIdle(id);
			ids.push(id);
		}
		const seen: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = `/v1/sessions?agent=${agent}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
			const page = await callJson(query);
			expect(page.status).toBe(200);
			expect(page.body.sessions.length).toBeLessThanOrEqual(2);
			seen.push(...page.body.sessions.map((session: { id: string }) => session.id));
			cursor = page.body.nextCursor;
		} while (cursor);
		expect(seen.sort()).toEqual([...ids].sort());
		const even = await callJson(`/v1/sessions?agent=${agent}&subject=even`);
		expect(even.body.sessions).toHaveLength(3);
	});

	it("rejects a cursor it did not produce with 400", async () => {
		const page = await callJson("/v1/sessions?cursor=not-a-cursor");
		expect(page.status).toBe(400);
		expect(page.body.error.code).toBe("validation_failed");
	});

	it("deletes a session everywhere and keeps a content-free tombstone", async () => {
		const id = await createSession({ body: { agent: "secret-agent", subject: "secret-subject", metadata: { pii: "x" }, policy: { keepRecentEvents: 0 } } });
		await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "note", content: "x".repeat(20_000) }] },
		});
		await callJson(`/v1/sessions/${id}/state/kv/secret`, { method: "PUT", body: { value: "pii" } });
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "c1" } });
		await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: { summary: "the user's secret" } });
		await runJobsUntilIdle(id);
		const prefix = `t/${env.ADMIN_TENANT}/s/${id}/`;
		expect((await env.BLOBS.list({ prefix })).objects).toHaveLength(3); // the blob, the archive and its transcript
		expect((await env.DB.prepare("SELECT count(*) AS n FROM events WHERE session_id = ?").bind(id).first<{ n: number }>())?.n).toBe(1);

		const deleted = await callJson(`/v1/sessions/${id}`, { method: "DELETE" });
		expect(deleted.status).toBe(200);
		expect(deleted.body).toMatchObject({ id, status: "deleted", purge: "complete" });

		expect((await env.BLOBS.list({ prefix })).objects).toHaveLength(0);
		expect((await env.DB.prepare("SELECT count(*) AS n FROM events WHERE session_id = ?").bind(id).first<{ n: number }>())?.n).toBe(0);
		const tombstone = await env.DB.prepare("SELECT * FROM sessions WHERE id = ?").bind(id).first<Record<string, unknown>>();
		expect(tombstone).toMatchObject({ status: "deleted", agent: null, subject: null });
		expect(tombstone?.deleted_at).toEqual(expect.any(Number));

		// The audit trail stays: it records who touched what (names, never values), not content.
		const leftovers = await runInDurableObject(sessionObject(id), (_instance, state) =>
			state.storage.sql
				.exec<{ name: string }>(
					// An empty FTS5 index keeps its settings and structure record: no words (search.test.ts checks).
					"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('session', 'timers', 'outbox', 'outbox_mark', 'event_projection', 'search_progress', 'audit', 'audit_projection', 'schema_version', 'sqlite_sequence', '_cf_KV', '_cf_METADATA', 'search_index_config', 'search_index_data')",
				)
				.toArray()
				.filter((table) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM "${table.name}"`).one().n > 0)
				.map((table) => table.name),
		);
		expect(leftovers).toEqual([]);
		const read = await callJson(`/v1/sessions/${id}`);
		expect(read.status).toBe(410);
		expect(read.body.error.code).toBe("session_deleted");
		const events = await callJson(`/v1/sessions/${id}/events`);
		expect(events.status).toBe(410);
		const recreate = await callJson("/v1/sessions", { method: "POST", body: { id } });
		expect(recreate.status).toBe(410);
		const deletedAgain = await callJson(`/v1/sessions/${id}`, { method: "DELETE" });
		expect(deletedAgain.status).toBe(200);
		expect(deletedAgain.body.deletedAt).toBe(deleted.body.deletedAt);
		const tombstones = await callJson(`/v1/sessions?status=deleted`);
		expect(tombstones.body.sessions.map((session: { id: string }) => session.id)).toContain(id);
	});
});
