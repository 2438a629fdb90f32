import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BlobStore } from "../src/blobs/blob-store";
import type { SessionObject } from "../src/session/session-object";
import { failingR2, type Outage } from "./faults";
import { callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";

/** A small model window so a few events cross the 60% threshold. */
const policy = { modelWindowTokens: 1024, compactAtShare: 0.6, keepRecentEvents: 3 };

function researchTurn(index: number) {
	return [
		{ type: "tool_call", name: "read_page", toolCallId: `c${index}`, content: { url: `https://example.org/page-${index}.html` } },
		{ type: "tool_result", name: "read_page", toolCallId: `c${index}`, content: `Page ${index} says: ${`finding ${index}: merge semantics of replicated sequences, tombstones and causal order. `.repeat(12)}` },
	];
}

async function seed(id: string) {
	await callJson(`/v1/sessions/${id}/events`, {
		method: "POST",
		body: {
			events: [
				{ type: "message", role: "user", content: "Survey CRDT papers and recommend one for our editor" },
				{ type: "note", content: "Cite every source", pinned: true },
			],
		},
	});
	for (let index = 0; index < 8; index++) {
		const extra =
			index === 3
				? [{ type: "decision", content: "Use a sequence CRDT (RGA) for text" }]
				: index === 5
					? [{ type: "error", content: "read_page timed out on page 6" }]
					: [];
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [...researchTurn(index), ...extra] } });
	}
}

async function allEvents(id: string, includeArchived: boolean) {
	return (await callJson(`/v1/sessions/${id}/events?limit=1000&includeArchived=${includeArchived}`)).body.events as Array<Record<string, unknown>>;
}

describe("compaction", () => {
	it("compacts a session past its token share in the alarm; pinned items, decisions and errors survive", async () => {
		const id = await createSession({ body: { policy } });
		await seed(id);
		const before = await callJson(`/v1/sessions/${id}/context?budget=100000`);
		const session = await callJson(`/v1/sessions/${id}`);
		expect(session.body.tokens.context).toBeGreaterThanOrEqual(0.6 * 1024);

		await runJobsUntilIdle(id);

		const compactions = (await callJson(`/v1/sessions/${id}/compactions`)).body.compactions;
		expect(compactions).toHaveLength(1);
		expect(compactions[0]).toMatchObject({ trigger: "token_share", summarizer: "deterministic" });
		expect(compactions[0].afterTokens).toBeLessThan(compactions[0].beforeTokens);

		const after = await callJson(`/v1/sessions/${id}/context?budget=100000`);
		expect(after.body.used).toBeLessThan(before.body.used);
		const texts = after.body.items.map((item: { content?: unknown }) => JSON.stringify(item.content));
		for (const survivor of ["Cite every source", "Use a sequence CRDT (RGA) for text", "read_page timed out on page 6"]) {
			expect(texts.some((text: string) => text.includes(survivor)), survivor).toBe(true);
		}
		const summary = after.body.items.find((item: { kind: string }) => item.kind === "summary");
		expect(summary.content).toContain("### Decisions");
		expect(summary.content).toContain("Survey CRDT papers");
		expect(summary.content).toContain("https://example.org/page-0.html");
		// The newest events stay verbatim.
		const lastSeq = (await callJson(`/v1/sessions/${id}`)).body.lastSeq;
		const seqs = after.body.items.map((item: { seq?: number }) => item.seq);
		expect(seqs).toEqual(expect.arrayContaining([lastSeq - 2, lastSeq - 1, lastSeq]));
	});

	it("archives compacted events to R2 before they leave hot storage, and reads them back identical", async () => {
		const id = await createSession({ body: { policy } });
		await seed(id);
		const original = await allEvents(id, false);
		await runJobsUntilIdle(id);

		const hot = await allEvents(id, false);
		expect(hot.length).toBeLessThan(original.length);
		const readBack = await allEvents(id, true);
		expect(readBack.map(({ archived: _archived, ...event }) => event)).toEqual(original);
		expect(readBack.filter((event) => event.archived).length).toBe(original.length - hot.length);

		const [compaction] = (await callJson(`/v1/sessions/${id}/compactions`)).body.compactions;
		const archive = await env.BLOBS.get(compaction.archiveKey);
		expect(archive).not.toBeNull();
		expect((await archive!.text()).trim().split("\n")).toHaveLength(compaction.archivedEvents);
		const transcript = await env.BLOBS.get(compaction.archiveKey.replace(/\.jsonl$/, ".md"));
		expect(await transcript!.text()).toContain("read_page");
	});

	it("changes nothing when the compaction alarm runs again", async () => {
		const id = await createSession({ body: { policy } });
		await seed(id);
		await runJobsUntilIdle(id);
		const once = await callJson(`/v1/sessions/${id}`);
		const windowOnce = await callJson(`/v1/sessions/${id}/context?budget=100000`);
		// Alarms are at-least-once: deliver the compaction job twice more.
		for (let rerun = 0; rerun < 2; rerun++) {
			await runInDurableObject(sessionObject(id), async (_instance, state) => {
				state.storage.sql.exec("INSERT OR REPLACE INTO timers (kind, key, due_at, rev) VALUES ('compact', '', 0, 1)");
				await state.storage.setAlarm(Date.now());
			});
			await runJobsUntilIdle(id);
		}
		const twice = await callJson(`/v1/sessions/${id}`);
		expect(twice.body.version).toBe(once.body.version);
		expect(twice.body.compactions).toBe(1);
		expect((await callJson(`/v1/sessions/${id}/context?budget=100000`)).body).toEqual(windowOnce.body);
	});

	it("uses an agent-written summary when one is posted", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 2 } } });
		await seed(id);
		const compacted = await callJson(`/v1/sessions/${id}/compact`, {
			method: "POST",
			body: { summary: "We compared 8 papers; RGA fits our editor best." },
		});
		expect(compacted.status).toBe(200);
		expect(compacted.body.compaction).toMatchObject({ summarizer: "agent", trigger: "manual" });
		const window = await callJson(`/v1/sessions/${id}/context?budget=100000`);
		const summary = window.body.items.find((item: { kind: string }) => item.kind === "summary");
		expect(summary.content).toContain("RGA fits our editor best");
		const nothing = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(nothing.body).toMatchObject({ compacted: false, compaction: null });
	});

	it("compacts on a milestone event type", async () => {
		const id = await createSession({ body: { policy: { milestoneTypes: ["decision"], keepRecentEvents: 1 } } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [...researchTurn(1), ...researchTurn(2)] } });
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(0);
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "decision", content: "Go with RGA" }] } });
		await runJobsUntilIdle(id);
		const [compaction] = (await callJson(`/v1/sessions/${id}/compactions`)).body.compactions;
		expect(compaction).toMatchObject({ trigger: "milestone", archivedEvents: 4 });
	});

	it("projects compaction records to D1", async () => {
		const id = await createSession({ body: { policy } });
		await seed(id);
		await runJobsUntilIdle(id);
		const row = await env.DB.prepare("SELECT trigger, before_tokens, after_tokens FROM compactions WHERE session_id = ?").bind(id).first<Record<string, number>>();
		expect(row?.trigger).toBe("token_share");
		expect(row!.after_tokens).toBeLessThan(row!.before_tokens);
	});
});

describe("compaction under concurrent writes and policy changes", () => {
	it("loses and duplicates nothing when appends race a running compaction", async () => {
		const id = await createSession({ body: { policy } });
		await seed(id);
		const racing = Promise.all(
			Array.from({ length: 40 }, (_, index) =>
				callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: `racer ${index}` }] } }),
			),
		);
		await Promise.all([runDurableObjectAlarm(sessionObject(id)), racing]);
		await runJobsUntilIdle(id);
		const events = await allEvents(id, true);
		expect(events.map((event) => event.seq)).toEqual(Array.from({ length: events.length }, (_, index) => index + 1));
		const racers = events.filter((event) => typeof event.content === "string" && (event.content as string).startsWith("racer "));
		expect(racers).toHaveLength(40);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBeGreaterThanOrEqual(1);
	});

	it("compacts when the elapsed-time trigger comes due", async () => {
		const id = await createSession({ body: { policy: { compactAfterSeconds: 60, keepRecentEvents: 1 } } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [...researchTurn(1), ...researchTurn(2)] } });
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(0);
		// An hour passes: the session was created long ago.
		await runInDurableObject(sessionObject(id), (_instance, state) => {
			state.storage.sql.exec("UPDATE session SET created_at = created_at - 3600000");
		});
		// A forced alarm runs the earliest timer: first the drain of the read's audit record,
		// then the elapsed-time check.
		await runJobsUntilIdle(id);
		await runJobsUntilIdle(id);
		const [compaction] = (await callJson(`/v1/sessions/${id}/compactions`)).body.compactions;
		expect(compaction).toMatchObject({ trigger: "elapsed", archivedEvents: 3 });
	});

	it("applies a policy lowered with PATCH to the next compaction check", async () => {
		const id = await createSession();
		await seed(id);
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(0);
		const patched = await callJson(`/v1/sessions/${id}`, { method: "PATCH", body: { policy } });
		expect(patched.status).toBe(200);
		expect(patched.body.policy).toMatchObject(policy);
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(1);
	});
});

describe("compaction when R2 is down", () => {
	it("never removes events it could not archive, and compacts once R2 is back", async () => {
		const id = await createSession({ body: { policy } });
		const outage: Outage = { down: true };
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			instance.dependencies.blobs = new BlobStore(failingR2(env.BLOBS, outage));
		});
		await seed(id);
		const before = await allEvents(id, false);
		const manual = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(manual.status).toBe(503);
		expect(manual.body.error.code).toBe("dependency_unavailable");
		await runDurableObjectAlarm(sessionObject(id));
		const session = await callJson(`/v1/sessions/${id}`);
		expect(session.body.compactions).toBe(0);
		expect(await allEvents(id, false)).toEqual(before);

		outage.down = false;
		const compacted = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(compacted.body.compacted).toBe(true);
		expect((await allEvents(id, true)).map(({ archived: _archived, ...event }) => event)).toEqual(before);
	});
});
