import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, runJobsUntilIdle } from "./helpers";

const policy = { modelWindowTokens: 1024, compactAtShare: 0.6, keepRecentEvents: 2 };
const bulky = (label: string) => ({ type: "tool_result", name: "search", content: `${label}: ${"a result line with several words ".repeat(30)}` });

async function append(id: string, ...events: Array<Record<string, unknown>>) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } });
	expect(result.status).toBe(201);
	return result.body;
}

async function contextAt(id: string, query = "budget=50000") {
	return (await callJson(`/v1/sessions/${id}/context?${query}`)).body;
}

describe("checkpoints, restore, fork and time travel", () => {
	it("rebuilds at=V exactly as served at V, after two later compactions", async () => {
		const id = await createSession({ body: { policy } });
		await callJson(`/v1/sessions/${id}/state/plan/step`, { method: "PUT", body: { value: 1 } });
		await append(id, { type: "message", role: "user", content: "find the bug" }, bulky("r1"), bulky("r2"));
		await append(id, bulky("r3"), { type: "decision", content: "suspect the cache" });
		const served = await contextAt(id);
		const servedSmall = await contextAt(id, "budget=300");
		const at = served.version;

		for (const round of [1, 2]) {
			await callJson(`/v1/sessions/${id}/state/plan/step`, { method: "PUT", body: { value: round + 1 } });
			await append(id, bulky(`later ${round}a`), bulky(`later ${round}b`), bulky(`later ${round}c`));
			await runJobsUntilIdle(id);
		}
		const compactions = (await callJson(`/v1/sessions/${id}/compactions`)).body.compactions;
		expect(compactions.length).toBeGreaterThanOrEqual(2);
		expect(compactions.every((compaction: { version: number }) => compaction.version > at)).toBe(true);

		expect(await contextAt(id, `budget=50000&at=${at}`)).toEqual(served);
		expect(await contextAt(id, `budget=300&at=${at}`)).toEqual(servedSmall);
		expect((await contextAt(id)).version).toBeGreaterThan(at);
		expect((await callJson(`/v1/sessions/${id}/context?budget=100&at=${at + 1000}`)).status).toBe(400);
	});

	it("restores state and window to a checkpoint; appends then continue from it with fresh seqs", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/deploy/step`, { method: "PUT", body: { value: "tests passed" } });
		await append(id, ...appendBody(3).events);
		const checkpoint = await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "before-push" } });
		expect(checkpoint.status).toBe(201);
		const atCheckpoint = await contextAt(id);

		await callJson(`/v1/sessions/${id}/state/deploy/step`, { method: "PUT", body: { value: "push failed" } });
		await callJson(`/v1/sessions/${id}/state/deploy/error`, { method: "PUT", body: { value: "403" } });
		await append(id, { type: "error", content: "push rejected" });

		const restored = await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "before-push" } });
		expect(restored.status).toBe(200);
		expect(restored.body).toMatchObject({ restoredTo: checkpoint.body.version, rewoundEvents: 1, stateChanges: 2 });

		expect((await callJson(`/v1/sessions/${id}/state/deploy/step`)).body.value).toBe("tests passed");
		expect((await callJson(`/v1/sessions/${id}/state/deploy/error`)).status).toBe(404);
		const window = await contextAt(id);
		expect(window.items).toEqual(atCheckpoint.items);

		const next = await append(id, { type: "note", content: "retrying push with new token" });
		expect(next.firstSeq).toBe(5);
		const events = (await callJson(`/v1/sessions/${id}/events`)).body.events;
		expect(events.find((event: { seq: number }) => event.seq === 4)).toMatchObject({ content: "push rejected", rewound: true });
		expect(events.find((event: { seq: number }) => event.seq === 5).rewound).toBeUndefined();
		const seqs = (await contextAt(id)).items.filter((item: { kind: string }) => item.kind === "event").map((item: { seq: number }) => item.seq);
		expect(seqs).toEqual([1, 2, 3, 5]);
	});

	it("brings compacted events back into the window when restoring to before the compaction", async () => {
		const id = await createSession({ body: { policy } });
		await append(id, bulky("a"), bulky("b"), bulky("c"));
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "early" } });
		const early = await contextAt(id);
		await append(id, bulky("d"), bulky("e"));
		await runJobsUntilIdle(id);
		expect((await callJson(`/v1/sessions/${id}`)).body.compactions).toBe(1);

		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "early" } });
		const window = await contextAt(id);
		expect(window.items).toEqual(early.items);
		expect((await callJson(`/v1/sessions/${id}/events`)).body.events.filter((event: { rewound?: boolean }) => !event.rewound)).toHaveLength(3);
	});

	it("lists and reads checkpoints, refuses a duplicate name and an unknown one", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } });
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "one" } });
		await callJson(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 2 } });
		const duplicate = await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "one" } });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body.error.code).toBe("checkpoint_exists");
		const read = await callJson(`/v1/sessions/${id}/checkpoints/one`);
		expect(read.body).toMatchObject({ name: "one", version: 2, state: [{ ns: "kv", key: "a", value: 1 }] });
		expect((await callJson(`/v1/sessions/${id}/checkpoints`)).body.checkpoints).toHaveLength(1);
		expect((await callJson(`/v1/sessions/${id}/checkpoints/nope`)).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "nope" } })).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "one", version: 1 } })).status).toBe(400);
	});

	it("forks from a checkpoint into an independent session with a parent link", async () => {
		const parent = await createSession({ body: { agent: "planner", policy } });
		await callJson(`/v1/sessions/${parent}/state/plan/approach`, { method: "PUT", body: { value: "A" } });
		await append(parent, { type: "message", role: "user", content: "explore options" }, bulky("big-1"), { type: "note", content: "x".repeat(20_000) });
		await callJson(`/v1/sessions/${parent}/checkpoints`, { method: "POST", body: { name: "fork-here" } });
		const parentWindow = await contextAt(parent);

		await append(parent, { type: "note", content: "parent only" });
		await callJson(`/v1/sessions/${parent}/state/plan/approach`, { method: "PUT", body: { value: "A2" } });

		const forked = await callJson(`/v1/sessions/${parent}/fork`, { method: "POST", body: { checkpoint: "fork-here", id: `${parent}-b` } });
		expect(forked.status).toBe(201);
		const child = forked.body.id;
		expect(forked.body).toMatchObject({ parentId: parent, forkedFrom: { sessionId: parent, version: parentWindow.version }, agent: "planner", lastSeq: 3 });

		const childWindow = await contextAt(child);
		expect(childWindow.items).toEqual(parentWindow.items);
		expect((await callJson(`/v1/sessions/${child}/state/plan/approach`)).body.value).toBe("A");

		await append(child, { type: "note", content: "child only" });
		await callJson(`/v1/sessions/${child}/state/plan/approach`, { method: "PUT", body: { value: "B" } });
		expect((await callJson(`/v1/sessions/${parent}/state/plan/approach`)).body.value).toBe("A2");
		const parentContents = JSON.stringify((await contextAt(parent)).items);
		expect(parentContents).not.toContain("child only");
		expect(JSON.stringify((await contextAt(child)).items)).not.toContain("parent only");

		// The child owns its copy of large content: deleting the parent does not break it.
		await callJson(`/v1/sessions/${parent}`, { method: "DELETE" });
		const expanded = await callJson(`/v1/sessions/${child}/events?includeContent=true`);
		expect(expanded.body.events.find((event: { seq: number }) => event.seq === 3).content).toBe("x".repeat(20_000));
	});

	it("carries the summary in effect into a fork of a compacted session", async () => {
		const parent = await createSession({ body: { policy } });
		await append(parent, bulky("a"), bulky("b"), bulky("c"), bulky("d"));
		await runJobsUntilIdle(parent);
		const parentWindow = await contextAt(parent);
		const forked = await callJson(`/v1/sessions/${parent}/fork`, { method: "POST", body: {} });
		expect(forked.status).toBe(201);
		expect((await contextAt(forked.body.id)).items).toEqual(parentWindow.items);
	});

	it("pages checkpoints by version and compactions by id", async () => {
		const id = await createSession({ body: { policy: { ...policy, modelWindowTokens: 1_000_000 } } });
		for (const name of ["c", "a", "b"]) {
			await append(id, bulky(name), bulky(`${name}2`), bulky(`${name}3`));
			expect((await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name } })).status).toBe(201);
			expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		}
		const first = await callJson(`/v1/sessions/${id}/checkpoints?limit=2`);
		expect(first.body.checkpoints.map((checkpoint: { name: string }) => checkpoint.name)).toEqual(["c", "a"]);
		expect(first.body.nextAfter).toBe("a");
		const second = await callJson(`/v1/sessions/${id}/checkpoints?limit=2&after=a`);
		expect(second.body).toMatchObject({ checkpoints: [{ name: "b" }], nextAfter: null });

		const compactions = await callJson(`/v1/sessions/${id}/compactions?limit=2`);
		expect(compactions.body.compactions).toHaveLength(2);
		const rest = await callJson(`/v1/sessions/${id}/compactions?limit=2&after=${compactions.body.nextAfter}`);
		expect(rest.body).toMatchObject({ compactions: [{ id: compactions.body.nextAfter + 1 }], nextAfter: null });
		expect((await callJson(`/v1/sessions/${id}/compactions?limit=0`)).status).toBe(400);
	});

	it("refuses with 422 restore_too_large a restore that would bring back more than 5,000 compacted events, changing nothing", async () => {
		const id = await createSession({ body: { policy: { modelWindowTokens: 10_000_000, keepRecentEvents: 2 } } });
		for (let batch = 0; batch < 11; batch++) await append(id, ...appendBody(500).events);
		expect((await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "all-hot" } })).status).toBe(201);
		for (let round = 0; round < 6; round++) await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} });
		const before = (await callJson(`/v1/sessions/${id}`)).body.version;
		const refused = await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "all-hot" } });
		expect(refused.status).toBe(422);
		expect(refused.body.error).toMatchObject({ code: "restore_too_large", details: { maxEvents: 5000 } });
		expect((await callJson(`/v1/sessions/${id}`)).body.version).toBe(before);
	});
});
