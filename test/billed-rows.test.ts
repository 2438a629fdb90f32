/**
 * Rows written are what Durable Object SQLite bills for (cursor.rowsWritten: index entries and
 * FTS rows included). These tests hold the hot paths to what they must write, so a change that
 * adds a row to every append or every read shows up here, not on an invoice.
 */
import { describe, expect, it } from "vitest";
import { call, createSession, type RecordedQuery, recordQueries } from "./helpers";

const cursors: RecordedQuery[] = [];

/**
 * Rows written since the last take, by the table each statement writes. Not the drain timer's
 * row: it is written only when no drain waits, so whether a write pays it depends on when the
 * last drain ran (at most one per drain, not per operation).
 */
function takeWritten(): Record<string, number> {
	const byTable: Record<string, number> = {};
	for (const { query, cursor } of cursors.splice(0)) {
		if (cursor.rowsWritten === 0) continue;
		const table = /(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)/i.exec(query)?.[1] ?? query;
		if (table === "timers") continue;
		byTable[table] = (byTable[table] ?? 0) + cursor.rowsWritten;
	}
	return byTable;
}

function withoutFigures(written: Record<string, number>): Record<string, number> {
	const { metrics: _figures, ...rest } = written;
	return rest;
}

const message = (content: string) => ({ method: "POST", body: { events: [{ type: "message", role: "user", content }] } });

describe("rows an operation writes", () => {
	it("an append without an Idempotency-Key: the event (and its two indexes), the session row, one audit record", async () => {
		const id = await createSession();
		await recordQueries(id, cursors);
		await call(`/v1/sessions/${id}/events`, message("the first message"));
		takeWritten();
		expect((await call(`/v1/sessions/${id}/events`, message("the second message"))).status).toBe(201);
		// No outbox row: the drain finds appended events past its mark (projection/appended.ts).
		expect(takeWritten()).toEqual({ events: 3, session: 1, audit: 1 });
	});

	// Its latency figure reaches the object after the answer, batched with others (operations/lookups.ts).
	it("a state or context lookup: its audit record", async () => {
		const id = await createSession();
		await call(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } });
		await recordQueries(id, cursors);
		takeWritten();
		expect((await call(`/v1/sessions/${id}/state/kv/a`)).status).toBe(200);
		expect(withoutFigures(takeWritten())).toEqual({ audit: 1 });
		expect((await call(`/v1/sessions/${id}/context?budget=1000`)).status).toBe(200);
		expect(withoutFigures(takeWritten())).toEqual({ audit: 1 });
	});

	it("search: indexes what was appended since the last search, once", async () => {
		const id = await createSession();
		await recordQueries(id, cursors);
		for (const word of ["1111", "2222", "3333"]) await call(`/v1/sessions/${id}/events`, message(`word ${word}`));
		takeWritten();
		const first = await call(`/v1/sessions/${id}/search?q=2222`);
		expect(((await first.json()) as { hits: unknown[] }).hits).toHaveLength(1);
		expect(takeWritten()).toEqual({ search_index: 3, search_progress: 1, audit: 1 });
		expect((await call(`/v1/sessions/${id}/search?q=3333`)).status).toBe(200);
		expect(takeWritten()).toEqual({ audit: 1 });
	});
});
