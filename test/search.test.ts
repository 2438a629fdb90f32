import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, createSession, mintKey, newId, runJobsUntilIdle, sessionObject } from "./helpers";

type Hit = { kind: string; seq?: number; type?: string; ns?: string; key?: string; score: number; snippet: string; archived?: boolean };

async function append(id: string, events: Array<Record<string, unknown>>): Promise<void> {
	const { status, body } = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } });
	if (status !== 201) throw new Error(`append failed: ${status} ${JSON.stringify(body)}`);
}

async function search(id: string, query: string, key?: string) {
	return callJson<{ hits: Hit[] }>(`/v1/sessions/${id}/search?${query}`, { key });
}

async function mintToken(scopes: Record<string, unknown>): Promise<string> {
	const minted = await callJson("/v1/tokens", { method: "POST", body: { scopes } });
	if (minted.status !== 201) throw new Error(`mint failed: ${minted.status} ${JSON.stringify(minted.body)}`);
	return minted.body.token as string;
}

describe("search within a session", () => {
	it("finds event text and state values, best first, with snippets", async () => {
		const id = await createSession();
		await append(id, [
			{ type: "message", role: "user", content: "The deployment failed because the database migrations timed out" },
			{ type: "note", content: "Lunch was good" },
			{ type: "tool_result", name: "lookup", content: { rows: 3, note: "database is healthy" } },
		]);
		await callJson(`/v1/sessions/${id}/state/facts/db`, { method: "PUT", body: { value: "the primary database lives in Frankfurt" } });

		const found = await search(id, "q=database%20migrations");
		expect(found.status).toBe(200);
		// The event holding both words outranks those holding one.
		expect(found.body.hits[0]).toMatchObject({ kind: "event", seq: 1, type: "message" });
		expect(found.body.hits[0].snippet).toContain("**migrations**");
		expect(found.body.hits.map((hit) => hit.seq ?? `${hit.ns}/${hit.key}`).sort()).toEqual([1, 3, "facts/db"].sort());
		expect(found.body.hits[0].score).toBeGreaterThan(found.body.hits[1].score);

		// Porter stemming: "failing" finds "failed".
		expect((await search(id, "q=failing")).body.hits.map((hit) => hit.seq)).toEqual([1]);
		const state = await search(id, "q=frankfurt");
		expect(state.body.hits).toEqual([expect.objectContaining({ kind: "state", ns: "facts", key: "db" })]);
		expect(state.body.hits[0].snippet).toContain("**Frankfurt**");
	});

	it("ranks an event higher when the events around it match too", async () => {
		const id = await createSession();
		await append(id, [
			{ type: "message", role: "user", content: "we planned the lisbon trip" },
			{ type: "message", role: "user", content: "maria will come along" },
			{ type: "message", role: "user", content: "some unrelated words here" },
			{ type: "message", role: "user", content: "other unrelated words again" },
			{ type: "message", role: "user", content: "maria will have some tea" },
		]);
		const seqs = (await search(id, "q=maria%20lisbon")).body.hits.map((hit) => hit.seq);
		expect(seqs).toHaveLength(3);
		// Both mention maria alike; the one next to the lisbon turn comes first.
		expect(seqs.indexOf(2)).toBeLessThan(seqs.indexOf(5));
	});

	it("filters by types, and `state` for state values", async () => {
		const id = await createSession();
		await append(id, [
			{ type: "message", role: "user", content: "kiwi please" },
			{ type: "note", content: "kiwi noted" },
		]);
		await callJson(`/v1/sessions/${id}/state/fruit/best`, { method: "PUT", body: { value: "kiwi" } });
		expect((await search(id, "q=kiwi&types=note")).body.hits.map((hit) => hit.seq)).toEqual([2]);
		expect((await search(id, "q=kiwi&types=state")).body.hits.map((hit) => hit.kind)).toEqual(["state"]);
		expect((await search(id, "q=kiwi&types=message,state")).body.hits).toHaveLength(2);
		expect((await search(id, "q=kiwi&types=bogus")).status).toBe(400);
		expect((await search(id, "q=kiwi&limit=1")).body.hits).toHaveLength(1);
	});

	it("follows state: a changed value is found by its new words only, a deleted key not at all", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/plan/step`, { method: "PUT", body: { value: "draft the outline" } });
		await callJson(`/v1/sessions/${id}/state/plan/step`, { method: "PUT", body: { value: "review the chapter" } });
		expect((await search(id, "q=outline")).body.hits).toEqual([]);
		expect((await search(id, "q=chapter")).body.hits).toHaveLength(1);
		await callJson(`/v1/sessions/${id}/state/plan/step`, { method: "DELETE" });
		expect((await search(id, "q=chapter")).body.hits).toEqual([]);
	});

	it("keeps compacted events searchable, marked archived, readable through the events route", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 2 } } });
		await append(id, [
			{ type: "note", content: "the walrus ate the herring" },
			...Array.from({ length: 6 }, (_, index) => ({ type: "note", content: `filler ${index}` })),
		]);
		const compacted = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(compacted.body.compacted).toBe(true);
		const hits = (await search(id, "q=walrus")).body.hits;
		expect(hits).toEqual([expect.objectContaining({ kind: "event", seq: 1, archived: true })]);
		expect(hits[0].snippet).toContain("**walrus**");
		const event = await callJson(`/v1/sessions/${id}/events?after=${(hits[0].seq ?? 1) - 1}&limit=1&includeArchived=true`);
		expect(event.body.events[0]).toMatchObject({ seq: 1, content: "the walrus ate the herring", archived: true });
		expect((await search(id, "q=filler")).body.hits.some((hit) => hit.archived !== true)).toBe(true);
	});

	it("keeps events archived by age searchable, marked archived", async () => {
		const id = await createSession({ body: { policy: { retention: { archiveAfterDays: 30 } } } });
		await append(id, [{ type: "note", content: "the axolotl regrows" }, { type: "note", content: "later words" }]);
		await runJobsUntilIdle(id);
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE events SET created_at = created_at - ?", 31 * 86_400_000);
			state.storage.sql.exec("UPDATE timers SET due_at = 1 WHERE kind = 'archive_events'");
		});
		await runJobsUntilIdle(id);
		const hot = await runInDurableObject(sessionObject(id), (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE content IS NOT NULL").one().n);
		expect(hot).toBe(0);
		expect((await search(id, "q=axolotl")).body.hits).toEqual([expect.objectContaining({ seq: 1, archived: true })]);
	});

	it("reads FTS5 syntax as plain words: a query with words answers 200, one without is a clear 400, never a 500", async () => {
		const id = await createSession();
		await append(id, [{ type: "note", content: "alpha beta gamma NEAR the end" }]);
		const asWords = ["AND (", "NEAR(", "alpha AND (beta", 'body:alpha"', "-beta", "^gamma", "alpha OR", "NOT", "{body}: x", "'; DROP TABLE events; --"];
		for (const q of asWords) {
			const { status, body } = await search(id, `q=${encodeURIComponent(q)}`);
			expect(status, `${q} → ${status} ${JSON.stringify(body)}`).toBe(200);
		}
		for (const q of ['"', "*", "( ) ^ :", "-"]) {
			const { status, body } = await search(id, `q=${encodeURIComponent(q)}`);
			expect(status, `${q} → ${status}`).toBe(400);
			expect(body).toMatchObject({ error: { code: "validation_failed", details: { issues: [{ path: "q" }] } } });
		}
		expect((await search(id, `q=${encodeURIComponent("-beta")}`)).body.hits).toHaveLength(1);
		expect((await search(id, `q=${encodeURIComponent("^gamma")}`)).body.hits).toHaveLength(1);
		expect((await search(id, `q=${encodeURIComponent("alpha AND (beta")}`)).body.hits).toHaveLength(1);
		const empty = await search(id, `q=${encodeURIComponent('"*"')}`);
		expect(empty.status).toBe(400);
		expect((empty.body as unknown as { error: { message: string } }).error.message).toContain("no word");
		expect((await search(id, "q=")).status).toBe(400);
	});

	it("shows a namespace-scoped credential only the state values of its namespaces", async () => {
		const id = await createSession();
		await append(id, [{ type: "note", content: "zebra crossing" }]);
		await callJson(`/v1/sessions/${id}/state/task/animal`, { method: "PUT", body: { value: "zebra" } });
		await callJson(`/v1/sessions/${id}/state/private/animal`, { method: "PUT", body: { value: "zebra" } });
		const token = await mintToken({ operations: ["read"], namespaces: ["task"] });
		const hits = (await search(id, "q=zebra", token)).body.hits;
		expect(hits.map((hit) => hit.ns ?? hit.kind).sort()).toEqual(["event", "task"]);
	});

	it("never finds reserved namespaces (workflow documents)", async () => {
		const id = await createSession();
		const put = await callJson(`/v1/sessions/${id}/workflows/flow`, { method: "PUT", body: { steps: [{ id: "one", action: "feed the unicornstep" }] } });
		expect(put.status).toBeLessThan(300);
		expect((await search(id, "q=unicornstep")).body.hits).toEqual([]);
	});
});

describe("search in copies of a session", () => {
	it("finds a compacted event in an import (archived), and the copies' events across sessions", async () => {
		const compactedWord = `pangolin${crypto.randomUUID().slice(0, 8)}`;
		const hotWord = `tapir${crypto.randomUUID().slice(0, 8)}`;
		const id = await createSession({ body: { policy: { keepRecentEvents: 2 } } });
		await append(id, [
			{ type: "note", content: `the ${compactedWord} rolls up` },
			...Array.from({ length: 3 }, (_, index) => ({ type: "note", content: `filler ${index}` })),
			{ type: "note", content: `the ${hotWord} stays` },
		]);
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);

		const exported = await (await call(`/v1/sessions/${id}/export`)).text();
		const imported = await callJson("/v1/sessions/import", { method: "POST", rawBody: exported, headers: { "content-type": "application/x-ndjson" } });
		expect(imported.status).toBe(201);
		expect((await search(imported.body.id, `q=${compactedWord}`)).body.hits).toEqual([expect.objectContaining({ seq: 1, archived: true })]);

		// A fork starts from the window: compacted events come as the summary, not as events.
		const forked = await callJson(`/v1/sessions/${id}/fork`, { method: "POST", body: {} });
		expect(forked.status).toBe(201);
		for (const copy of [id, imported.body.id, forked.body.id]) await runJobsUntilIdle(copy);
		const across = async (word: string) => (await callJson(`/v1/search?q=${word}`)).body.hits.map((hit: { sessionId: string }) => hit.sessionId).sort();
		expect(await across(hotWord)).toEqual([id, imported.body.id, forked.body.id].sort());
		expect(await across(compactedWord)).toEqual([id, imported.body.id].sort());
	});
});

describe("search across sessions", () => {
	it("indexes the first 2 KB of an event's text, and the session search all of it", async () => {
		const head = `wombat${crypto.randomUUID().slice(0, 8)}`;
		const tail = `numbat${crypto.randomUUID().slice(0, 8)}`;
		const id = await createSession();
		await append(id, [{ type: "tool_result", name: "crawl", content: `${head} ${"filler words in a long page ".repeat(300)} ${tail}` }]);
		await runJobsUntilIdle(id);
		const across = async (word: string) => (await callJson(`/v1/search?q=${word}`)).body.hits.map((hit: { sessionId: string }) => hit.sessionId);
		expect(await across(head)).toEqual([id]);
		expect(await across(tail)).toEqual([]);
		expect((await search(id, `q=${tail}`)).body.hits).toEqual([expect.objectContaining({ seq: 1 })]);
	});

	it("finds events of the tenant's sessions, filtered by agent and subject, nothing of another tenant", async () => {
		const tenant = newId("t").slice(0, 30).toLowerCase();
		const key = await mintKey("writer", tenant);
		const other = await mintKey("writer", newId("o").slice(0, 30).toLowerCase());
		const word = `quokka${crypto.randomUUID().slice(0, 8)}`;
		const first = await createSession({ key, body: { agent: "planner", subject: "user-1" } });
		const second = await createSession({ key, body: { agent: "coder", subject: "user-2" } });
		const foreign = await createSession({ key: other });
		for (const [id, owner] of [[first, key], [second, key], [foreign, other]] as const) {
			await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: owner, body: { events: [{ type: "note", content: `a ${word} was seen` }] } });
		}
		await runJobsUntilIdle(first, tenant);
		await runJobsUntilIdle(second, tenant);

		const all = await callJson(`/v1/search?q=${word}`, { key });
		expect(all.status).toBe(200);
		expect(all.body.hits.map((hit: { sessionId: string }) => hit.sessionId).sort()).toEqual([first, second].sort());
		expect(all.body.hits[0]).toMatchObject({ seq: 1, type: "note" });
		expect(all.body.hits[0].snippet).toContain(`**${word}**`);
		expect((await callJson(`/v1/search?q=${word}&agent=coder`, { key })).body.hits).toEqual([expect.objectContaining({ sessionId: second, agent: "coder" })]);
		expect((await callJson(`/v1/search?q=${word}&subject=user-1`, { key })).body.hits).toEqual([expect.objectContaining({ sessionId: first, subject: "user-1" })]);
		const noWord = await callJson(`/v1/search?q=${encodeURIComponent('( * "')}`, { key });
		expect(noWord.status).toBe(400);
		expect(noWord.body.error).toMatchObject({ code: "validation_failed", details: { issues: [{ path: "q" }] } });
		expect(noWord.body.error.message).toContain("no word");
		expect((await callJson(`/v1/search?q=${encodeURIComponent(`NEAR(${word} *`)}`, { key })).body.hits).toHaveLength(2);
	});

	it("leaves nothing of a deleted session", async () => {
		const word = `wombat${crypto.randomUUID().slice(0, 8)}`;
		const id = await createSession();
		await append(id, [{ type: "note", content: `the ${word} burrows` }]);
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/search?q=${word}`)).body.hits).toHaveLength(1);
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(200);
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/search?q=${word}`)).body.hits).toEqual([]);
		expect((await search(id, `q=${word}`)).status).toBe(410);
	});

	it("shows a session-scoped credential only the sessions it may read", async () => {
		const word = `okapi${crypto.randomUUID().slice(0, 8)}`;
		const mine = await createSession({ id: newId("team-a") });
		const theirs = await createSession({ id: newId("team-b") });
		for (const id of [mine, theirs]) {
			await append(id, [{ type: "note", content: `an ${word} appears` }]);
			await runJobsUntilIdle(id);
		}
		const token = await mintToken({ operations: ["read"], sessions: ["team-a*"] });
		const hits = (await callJson(`/v1/search?q=${word}`, { key: token })).body.hits;
		expect(hits.map((hit: { sessionId: string }) => hit.sessionId)).toEqual([mine]);
	});
});

describe("what deletion leaves in the indexes", () => {
	/**
	 * Whether any FTS5 segment block holds the text. A term is stored without the prefix it shares
	 * with the term before it, so the words below are looked for by their random tails.
	 */
	const blocksHold = (blocks: Array<{ block: ArrayBuffer | number[] | null }>, text: string) =>
		blocks.some((row) => row.block !== null && new TextDecoder("latin1").decode(new Uint8Array(row.block)).includes(text));

	it("keeps no words of a deleted value or a deleted session in the FTS5 segments", async () => {
		// Digits only: the porter stemmer cuts letter suffixes ("…ed", "…e") off a token, and a hex tail ending in one would not be stored as written.
		const digits = () => String(crypto.getRandomValues(new Uint32Array(2)).reduce((text, value) => text + value.toString().padStart(10, "0"), "")).slice(0, 14);
		const eventWord = digits();
		const stateWord = digits();
		const id = await createSession();
		await append(id, [{ type: "note", content: `the narwhal${eventWord} sings` }]);
		await callJson(`/v1/sessions/${id}/state/facts/plant`, { method: "PUT", body: { value: `an okra${stateWord}` } });
		await runJobsUntilIdle(id);
		// Events are indexed when the session is next searched.
		expect((await search(id, `q=narwhal${eventWord}`)).body.hits).toHaveLength(1);
		const objectHolds = (word: string) =>
			runInDurableObject(sessionObject(id), (_instance, state) =>
				blocksHold(state.storage.sql.exec<{ block: ArrayBuffer | null }>("SELECT block FROM search_index_data UNION ALL SELECT term FROM search_index_idx").toArray(), word),
			);
		const d1Holds = async (word: string) =>
			blocksHold((await env.DB.prepare("SELECT block FROM event_search_data UNION ALL SELECT term FROM event_search_idx").all<{ block: number[] | null }>()).results, word);
		expect(await objectHolds(stateWord)).toBe(true);
		expect(await objectHolds(eventWord)).toBe(true);
		expect(await d1Holds(eventWord)).toBe(true);

		await callJson(`/v1/sessions/${id}/state/facts/plant`, { method: "DELETE" });
		expect(await objectHolds(stateWord)).toBe(false);
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(200);
		await runJobsUntilIdle(id);
		expect(await objectHolds(eventWord)).toBe(false);
		expect(await d1Holds(eventWord)).toBe(false);
	});
});
