import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession } from "./helpers";

describe("events", () => {
	it("appends a batch atomically under one new version with consecutive seqs", async () => {
		const id = await createSession();
		const appended = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: {
				events: [
					{ type: "message", role: "user", content: "Summarize the PR" },
					{ type: "tool_call", name: "read_file", toolCallId: "c1", content: { path: "a.ts" } },
					{ type: "tool_result", name: "read_file", toolCallId: "c1", content: "export {}" },
					{ type: "decision", content: "Review file by file", metadata: { by: "planner" } },
				],
			},
		});
		expect(appended.status).toBe(201);
		expect(appended.body).toMatchObject({ version: 2, firstSeq: 1, lastSeq: 4 });
		const page = await callJson(`/v1/sessions/${id}/events`);
		expect(page.body.events.map((event: { seq: number }) => event.seq)).toEqual([1, 2, 3, 4]);
		expect(page.body.events[1]).toMatchObject({ type: "tool_call", name: "read_file", toolCallId: "c1", content: { path: "a.ts" }, version: 2 });
		expect(page.body.events[3].metadata).toEqual({ by: "planner" });
	});

	it("pages by seq and filters by type", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(7) });
		await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "error", content: "rate limited" }, { type: "note", content: "retrying" }] },
		});
		const first = await callJson(`/v1/sessions/${id}/events?limit=4`);
		expect(first.body.events.map((event: { seq: number }) => event.seq)).toEqual([1, 2, 3, 4]);
		expect(first.body.nextAfter).toBe(4);
		const rest = await callJson(`/v1/sessions/${id}/events?after=4&limit=100`);
		expect(rest.body.events.map((event: { seq: number }) => event.seq)).toEqual([5, 6, 7, 8, 9]);
		expect(rest.body.nextAfter).toBeNull();
		const errors = await callJson(`/v1/sessions/${id}/events?types=error,decision`);
		expect(errors.body.events).toHaveLength(1);
		expect(errors.body.events[0]).toMatchObject({ seq: 8, type: "error" });
	});

	it("gives 200 concurrent appends seqs 1..200 with no gap or duplicate, and one version each", async () => {
		const id = await createSession();
		const results = await Promise.all(
			Array.from({ length: 200 }, (_, index) =>
				callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: `writer ${index}` }] } }),
			),
		);
		expect(results.every((result) => result.status === 201)).toBe(true);
		const seqs = results.map((result) => result.body.firstSeq as number).sort((a, b) => a - b);
		expect(seqs).toEqual(Array.from({ length: 200 }, (_, index) => index + 1));
		const versions = new Set(results.map((result) => result.body.version));
		expect(versions.size).toBe(200);
		const page = await callJson(`/v1/sessions/${id}/events?limit=1000`);
		expect(page.body.events.map((event: { seq: number }) => event.seq)).toEqual(seqs);
		// Each event's content is the one its writer was acknowledged for.
		for (const [index, result] of results.entries()) {
			expect(page.body.events[result.body.firstSeq - 1].content).toBe(`writer ${index}`);
		}
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ version: 201, eventCount: 200, lastSeq: 200 });
	});

	it("keeps concurrent batches contiguous: no batch interleaves with another", async () => {
		const id = await createSession();
		const results = await Promise.all(
			Array.from({ length: 20 }, (_, batch) =>
				callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(10, (index) => `${batch}:${index}`) }),
			),
		);
		const page = await callJson(`/v1/sessions/${id}/events?limit=1000`);
		for (const [batch, result] of results.entries()) {
			expect(result.body.lastSeq - result.body.firstSeq).toBe(9);
			const contents = page.body.events.slice(result.body.firstSeq - 1, result.body.lastSeq).map((event: { content: string }) => event.content);
			expect(contents).toEqual(Array.from({ length: 10 }, (_, index) => `${batch}:${index}`));
		}
	});

	it("returns 409 version_conflict for a stale expectedVersion and writes nothing", async () => {
		const id = await createSession();
		const stale = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { ...appendBody(1), expectedVersion: 5 } });
		expect(stale.status).toBe(409);
		expect(stale.body.error).toMatchObject({ code: "version_conflict", details: { currentVersion: 1, expectedVersion: 5 } });
		const viaHeader = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "if-match": '"0"' } });
		expect(viaHeader.status).toBe(409);
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ version: 1, eventCount: 0 });
		const fresh = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1), headers: { "if-match": '"1"' } });
		expect(fresh.status).toBe(201);
	});
});
