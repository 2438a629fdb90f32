import { describe, expect, it } from "vitest";
import { callJson, createSession } from "./helpers";

async function append(id: string, ...contents: string[]) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: contents.map((content) => ({ type: "message", role: "user", content })) } });
	expect(result.status).toBe(201);
	return result.body;
}

async function listed(id: string, query = "") {
	return ((await callJson(`/v1/sessions/${id}/events?limit=1000${query}`)).body.events as Array<{ seq: number; content: string; retracted?: boolean }>).map((event) =>
		event.retracted ? `${event.seq}:${event.content}:retracted` : `${event.seq}:${event.content}`,
	);
}

async function windowContents(id: string, query = "") {
	const window = (await callJson(`/v1/sessions/${id}/context?budget=100000${query}`)).body;
	return window.items.filter((item: { kind: string }) => item.kind === "event").map((item: { content: string }) => item.content);
}

function retract(id: string, body: Record<string, unknown>) {
	return callJson(`/v1/sessions/${id}/events/retract`, { method: "POST", body });
}

describe("retracting the tail of the log", () => {
	it("pops the last event out of the list and the window as one version, and keeps it in the history", async () => {
		const id = await createSession();
		await append(id, "one", "two", "three");
		const before = (await callJson(`/v1/sessions/${id}`)).body;
		const popped = await retract(id, { fromSeq: 3, expectSeqs: [3] });
		expect(popped.status).toBe(200);
		expect(popped.body).toMatchObject({ version: before.version + 1, retracted: 1, appended: null });
		expect(await listed(id)).toEqual(["1:one", "2:two"]);
		expect(await windowContents(id)).toEqual(["one", "two"]);
		expect(await listed(id, "&includeRetracted=true")).toEqual(["1:one", "2:two", "3:three:retracted"]);
		const after = (await callJson(`/v1/sessions/${id}`)).body;
		expect(after.tokens.context).toBeLessThan(before.tokens.context);
		// The window served before the retraction is rebuilt as it was.
		expect(await windowContents(id, `&at=${before.version}`)).toEqual(["one", "two", "three"]);
	});

	it("replaces a suffix only if it is still what was read, appending the replacement in the same write", async () => {
		const id = await createSession();
		await append(id, "question", "draft answer", "tool output");
		const replaced = await retract(id, {
			fromSeq: 2,
			expectSeqs: [2, 3],
			events: [
				{ type: "message", role: "assistant", content: "final answer" },
				{ type: "note", content: "done" },
			],
		});
		expect(replaced.status).toBe(200);
		expect(replaced.body).toMatchObject({ retracted: 2, appended: { firstSeq: 4, lastSeq: 5 } });
		expect(replaced.body.appended.version).toBe(replaced.body.version);
		expect(await listed(id)).toEqual(["1:question", "4:final answer", "5:done"]);

		const version = (await callJson(`/v1/sessions/${id}`)).body.version;
		const stale = await retract(id, { fromSeq: 2, expectSeqs: [2, 3], events: [{ type: "note", content: "lost update" }] });
		expect(stale.status).toBe(409);
		expect(stale.body.error.code).toBe("tail_changed");
		expect(stale.body.error.details.current).toEqual([4, 5]);
		expect((await callJson(`/v1/sessions/${id}`)).body.version).toBe(version);
		expect(await listed(id)).toEqual(["1:question", "4:final answer", "5:done"]);
	});

	it("clears a session, and a restore to before the retraction brings the events back", async () => {
		const id = await createSession();
		await append(id, "a", "b");
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "before-clear" } });
		expect((await retract(id, { fromSeq: 1 })).body.retracted).toBe(2);
		expect(await listed(id)).toEqual([]);
		expect(await windowContents(id)).toEqual([]);
		expect((await retract(id, { fromSeq: 1 })).body).toMatchObject({ retracted: 0, appended: null });
		expect((await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "before-clear" } })).status).toBe(200);
		expect(await listed(id)).toEqual(["1:a", "2:b"]);
		expect(await windowContents(id)).toEqual(["a", "b"]);
	});

	it("races appends without losing either: a conditional replacement wins only against the tail it read", async () => {
		const id = await createSession();
		await append(id, "base");
		for (let round = 0; round < 15; round++) {
			const tail = (await callJson(`/v1/sessions/${id}/events?limit=1000`)).body.events.at(-1).seq as number;
			const [appended, replaced] = await Promise.all([
				callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: `appended ${round}` }] } }),
				retract(id, { fromSeq: tail, expectSeqs: [tail], events: [{ type: "note", content: `replaced ${round}` }] }),
			]);
			expect(appended.status).toBe(201);
			expect([200, 409]).toContain(replaced.status);
			const contents = (await listed(id)).map((entry) => entry.split(":")[1]);
			expect(contents).toContain(`appended ${round}`);
			if (replaced.status === 200) {
				// The replacement committed first: the append landed after it.
				expect(contents.slice(-2)).toEqual([`replaced ${round}`, `appended ${round}`]);
			} else {
				expect(contents).not.toContain(`replaced ${round}`);
			}
		}
	});

	it("keeps retracted events out of compaction summaries and search", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 1 } } });
		await append(id, "keep the zebra plan", "retract the walrus idea", "latest message");
		await retract(id, { fromSeq: 2, expectSeqs: [2, 3], events: [{ type: "message", role: "user", content: "latest message again" }] });
		const compacted = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(compacted.body.compacted).toBe(true);
		expect(compacted.body.compaction.summary).toContain("zebra");
		expect(compacted.body.compaction.summary).not.toContain("walrus");
		const hits = (await callJson(`/v1/sessions/${id}/search?q=walrus`)).body.hits;
		expect(hits).toEqual([]);
		expect((await callJson(`/v1/sessions/${id}/search?q=zebra`)).body.hits.length).toBe(1);
	});

	it("remembers every retraction of an event, so at=V and restores stay exact when retractions and restores alternate", async () => {
		const id = await createSession();
		await append(id, "a", "b");
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "c1" } });
		const first = await retract(id, { fromSeq: 2, expectSeqs: [2] });
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "c2" } });
		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "c1" } });
		expect(await windowContents(id)).toEqual(["a", "b"]);
		await retract(id, { fromSeq: 2, expectSeqs: [2] });
		expect(await windowContents(id, `&at=${first.body.version}`)).toEqual(["a"]);
		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "c2" } });
		expect(await windowContents(id)).toEqual(["a"]);
		expect(await listed(id)).toEqual(["1:a"]);
	});

	it("hides a compaction summary that covers a retracted event, so a cleared session's window is empty", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 1 } } });
		await append(id, "the secret plan is blue", "second", "third");
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		const before = (await callJson(`/v1/sessions/${id}/context?budget=100000`)).body;
		expect(JSON.stringify(before.items)).toContain("secret plan");
		await retract(id, { fromSeq: 1 });
		const after = (await callJson(`/v1/sessions/${id}/context?budget=100000`)).body;
		expect(after.items).toEqual([]);
		// The window served before the clear is still rebuilt as it was.
		expect((await callJson(`/v1/sessions/${id}/context?budget=100000&at=${before.version}`)).body.items).toEqual(before.items);
	});

	it("compacts past a long run of retracted events at the head of the log", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 1 } } });
		for (let batch = 0; batch < 3; batch++) await append(id, ...Array.from({ length: 400 }, (_, index) => `old ${batch * 400 + index}`));
		await retract(id, { fromSeq: 1 });
		await append(id, "new one", "new two", "new three");
		const compacted = await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		expect(compacted.body.compacted).toBe(true);
		expect(compacted.body.compaction.summary).not.toContain("old ");
	});

	it("refuses bad input with 400 and changes nothing", async () => {
		const id = await createSession();
		await append(id, "x");
		const version = (await callJson(`/v1/sessions/${id}`)).body.version;
		for (const body of [{ fromSeq: 0 }, { fromSeq: "1" }, {}, { fromSeq: 1, expectSeqs: Array.from({ length: 1001 }, (_, index) => index + 1) }, { fromSeq: 1, events: [] }, { fromSeq: 1, extra: true }, { fromSeq: 1, events: [{ type: "handoff_in", content: {} }] }]) {
			const refused = await retract(id, body);
			expect(refused.status).toBe(400);
		}
		expect((await callJson(`/v1/sessions/${id}`)).body.version).toBe(version);
	});
});
