/**
 * Merging a fork back into its parent: a three-way merge of state against the fork point,
 * the fork's new events appended once with provenance, conflicts reported for a judge or
 * settled by strategy, and the bad inputs refused with nothing changed.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { blobKey, sessionPrefix } from "../src/blobs/blob-store";
import { PauseGate, pausingR2 } from "./faults";
import { callJson, createSession, newId, useBucket } from "./helpers";

const tenant = env.ADMIN_TENANT;

async function put(id: string, ns: string, key: string, value: unknown) {
	const result = await callJson(`/v1/sessions/${id}/state/${ns}/${key}`, { method: "PUT", body: { value } });
	expect(result.status, JSON.stringify(result.body)).toBe(200);
}

async function remove(id: string, ns: string, key: string) {
	expect((await callJson(`/v1/sessions/${id}/state/${ns}/${key}`, { method: "DELETE" })).status).toBe(200);
}

/** The key's value, its R2 reference when large, or null when it does not exist. */
async function valueOf(id: string, ns: string, key: string): Promise<unknown> {
	const read = await callJson(`/v1/sessions/${id}/state/${ns}/${key}`);
	if (read.status === 404) return null;
	expect(read.status).toBe(200);
	return read.body.valueRef ?? read.body.value;
}

async function append(id: string, ...contents: string[]) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: contents.map((content) => ({ type: "note", content })) } });
	expect(result.status).toBe(201);
	return result.body;
}

async function fork(parent: string): Promise<string> {
	const forked = await callJson(`/v1/sessions/${parent}/fork`, { method: "POST", body: { id: newId("fork") } });
	expect(forked.status, JSON.stringify(forked.body)).toBe(201);
	return forked.body.id as string;
}

function merge(target: string, body: Record<string, unknown>, options: { key?: string; headers?: Record<string, string> } = {}) {
	return callJson(`/v1/sessions/${target}/merge`, { method: "POST", body, ...options });
}

async function session(id: string) {
	return (await callJson(`/v1/sessions/${id}`)).body;
}

async function events(id: string): Promise<Array<{ seq: number; version: number; content?: unknown; contentRef?: { sha256: string }; metadata?: Record<string, unknown> }>> {
	return (await callJson(`/v1/sessions/${id}/events?limit=1000`)).body.events;
}

describe("merging a fork", () => {
	it("merges keys changed on one side each and appends the fork's new events once, with provenance", async () => {
		const parent = await createSession();
		await append(parent, "before the fork");
		for (const key of ["a", "b", "c"]) await put(parent, "task", key, `${key}0`);
		const child = await fork(parent);
		await put(parent, "task", "a", "a-ours");
		await put(child, "task", "b", "b-theirs");
		await put(child, "notes", "d", { added: "by the fork" });
		const forkEvents = await append(child, "found it", "wrote it down");
		const before = await session(parent);

		const merged = await merge(parent, { from: child });
		expect(merged.status, JSON.stringify(merged.body)).toBe(200);
		expect(merged.body).toMatchObject({ from: child, changed: true, version: before.version + 1, events: { count: 2 } });
		expect(merged.headers.get("etag")).toBe(`"${before.version + 1}"`);
		expect(merged.body.keys).toEqual([
			{ ns: "notes", key: "d", outcome: "theirs", deleted: false },
			{ ns: "task", key: "b", outcome: "theirs", deleted: false },
		]);
		expect(await valueOf(parent, "task", "a")).toBe("a-ours");
		expect(await valueOf(parent, "task", "b")).toBe("b-theirs");
		expect(await valueOf(parent, "task", "c")).toBe("c0");
		expect(await valueOf(parent, "notes", "d")).toEqual({ added: "by the fork" });
		const after = await session(parent);
		expect(after).toMatchObject({ stateKeyCount: 4, eventCount: 3 });

		const appended = (await events(parent)).slice(1);
		expect(appended.map((event) => [event.content, event.version, event.metadata])).toEqual([
			["found it", before.version + 1, { mergedFrom: child, mergedSeq: forkEvents.firstSeq }],
			["wrote it down", before.version + 1, { mergedFrom: child, mergedSeq: forkEvents.lastSeq }],
		]);
		expect(merged.body.events).toEqual({ count: 2, firstSeq: appended[0].seq, lastSeq: appended[1].seq });

		// Again without a key: nothing new in the fork, nothing changes.
		const again = await merge(parent, { from: child });
		expect(again.status).toBe(200);
		expect(again.body).toMatchObject({ changed: false, version: after.version, events: { count: 0 } });
		expect((await session(parent)).version).toBe(after.version);
		expect(await events(parent)).toHaveLength(3);

		// The fork goes on: the next merge takes only what is new since the last one.
		await put(child, "task", "b", "b-theirs-2");
		await append(child, "one more");
		const next = await merge(parent, { from: child });
		expect(next.status, JSON.stringify(next.body)).toBe(200);
		expect(next.body.keys).toEqual([{ ns: "task", key: "b", outcome: "theirs", deleted: false }]);
		expect((await events(parent)).map((event) => event.content)).toEqual(["before the fork", "found it", "wrote it down", "one more"]);
		expect(await valueOf(parent, "task", "b")).toBe("b-theirs-2");
	});

	it("keeps the version when this session already holds the fork's change, and measures the next change from there", async () => {
		const parent = await createSession();
		await put(parent, "task", "plan", "base");
		const child = await fork(parent);
		await put(parent, "task", "plan", "agreed");
		await put(child, "task", "plan", "agreed");
		const { version } = await session(parent);
		const same = await merge(parent, { from: child });
		expect(same.status).toBe(200);
		expect(same.body).toMatchObject({ changed: false, version, keys: [{ ns: "task", key: "plan", outcome: "same", deleted: false }] });
		// Against the fork point this would be a conflict (both changed "base"); against the last merge it is the fork's change.
		await put(child, "task", "plan", "refined");
		const next = await merge(parent, { from: child });
		expect(next.status, JSON.stringify(next.body)).toBe(200);
		expect(next.body.keys).toEqual([{ ns: "task", key: "plan", outcome: "theirs", deleted: false }]);
		expect(await valueOf(parent, "task", "plan")).toBe("refined");
	});

	it("merges a fork again after a restore to before its merge: the restore forgets the merge", async () => {
		const parent = await createSession();
		const child = await fork(parent);
		await put(child, "task", "k", "v");
		await append(child, "from the fork");
		const { version } = await session(parent);
		expect((await merge(parent, { from: child })).status).toBe(200);
		expect((await callJson(`/v1/sessions/${parent}/restore`, { method: "POST", body: { version } })).status).toBe(200);
		expect(await valueOf(parent, "task", "k")).toBeNull();
		const again = await merge(parent, { from: child });
		expect(again.status, JSON.stringify(again.body)).toBe(200);
		expect(again.body).toMatchObject({ changed: true, events: { count: 1 } });
		expect(await valueOf(parent, "task", "k")).toBe("v");
		const window = await callJson(`/v1/sessions/${parent}/context?budget=4000`);
		expect(window.body.items.filter((item: { content?: unknown }) => item.content === "from the fork")).toHaveLength(1);
	});

	it("reports conflicts without changing anything, then merges a judge's resolutions", async () => {
		const parent = await createSession();
		await put(parent, "task", "plan", "base plan");
		await put(parent, "task", "owner", "agent-1");
		const child = await fork(parent);
		await put(parent, "task", "plan", "our plan");
		await put(child, "task", "plan", "their plan");
		await put(child, "task", "status", "done");
		await append(child, "worked on it");
		const before = await session(parent);

		const reported = await merge(parent, { from: child });
		expect(reported.status).toBe(409);
		expect(reported.body.error.code).toBe("merge_conflict");
		expect(reported.body.error.details.conflicts).toEqual([
			{ ns: "task", key: "plan", base: { value: "base plan" }, ours: { value: "our plan" }, theirs: { value: "their plan" } },
		]);
		expect(await session(parent)).toMatchObject({ version: before.version, eventCount: 0 });
		expect(await valueOf(parent, "task", "status")).toBeNull();

		// A resolution must name a key the fork changed; a conflict left unresolved still 409s.
		const stray = await merge(parent, { from: child, resolutions: [{ ns: "task", key: "owner", value: "me" }] });
		expect(stray.status).toBe(422);
		expect(stray.body.error).toMatchObject({ code: "resolution_not_in_merge", details: { keys: [{ ns: "task", key: "owner" }] } });
		const partial = await merge(parent, { from: child, resolutions: [{ ns: "task", key: "status", value: "reviewed" }] });
		expect(partial.status).toBe(409);
		expect((await session(parent)).version).toBe(before.version);

		const resolved = await merge(parent, { from: child, resolutions: [{ ns: "task", key: "plan", value: "the judged plan" }] });
		expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
		expect(resolved.body.keys).toEqual([
			{ ns: "task", key: "plan", outcome: "resolution", deleted: false },
			{ ns: "task", key: "status", outcome: "theirs", deleted: false },
		]);
		expect(await valueOf(parent, "task", "plan")).toBe("the judged plan");
		expect(await valueOf(parent, "task", "status")).toBe("done");
		expect(await valueOf(parent, "task", "owner")).toBe("agent-1");
		expect(await session(parent)).toMatchObject({ version: before.version + 1, eventCount: 1 });
	});

	it("settles every conflict by strategy: ours keeps this session's values, theirs takes the fork's", async () => {
		const parent = await createSession();
		await put(parent, "task", "plan", "base");
		const keeps = await fork(parent);
		const takes = await fork(parent);
		await put(parent, "task", "plan", "ours");
		await put(keeps, "task", "plan", "theirs (kept out)");
		await put(keeps, "task", "extra", "clean change");
		await put(takes, "task", "plan", "theirs (taken)");

		const ours = await merge(parent, { from: keeps, strategy: "ours" });
		expect(ours.status, JSON.stringify(ours.body)).toBe(200);
		expect(ours.body.keys).toEqual([
			{ ns: "task", key: "extra", outcome: "theirs", deleted: false },
			{ ns: "task", key: "plan", outcome: "ours", deleted: false },
		]);
		expect(await valueOf(parent, "task", "plan")).toBe("ours");
		expect(await valueOf(parent, "task", "extra")).toBe("clean change");

		const theirs = await merge(parent, { from: takes, strategy: "theirs" });
		expect(theirs.status, JSON.stringify(theirs.body)).toBe(200);
		expect(theirs.body.keys).toEqual([{ ns: "task", key: "plan", outcome: "theirs", deleted: false }]);
		expect(await valueOf(parent, "task", "plan")).toBe("theirs (taken)");
		expect(await valueOf(parent, "task", "extra")).toBe("clean change");
	});

	it("counts a deletion as a change: merged when the other side left the key alone, a conflict with null when it changed it", async () => {
		const parent = await createSession();
		for (const key of ["gone", "contested", "revived", "kept"]) await put(parent, "task", key, `${key}0`);
		const child = await fork(parent);
		await remove(child, "task", "gone");
		await remove(child, "task", "contested");
		await put(parent, "task", "contested", "changed here");
		await remove(parent, "task", "revived");
		await put(child, "task", "revived", "changed there");

		const reported = await merge(parent, { from: child });
		expect(reported.status).toBe(409);
		expect(reported.body.error.details.conflicts).toEqual([
			{ ns: "task", key: "contested", base: { value: "contested0" }, ours: { value: "changed here" }, theirs: null },
			{ ns: "task", key: "revived", base: { value: "revived0" }, ours: null, theirs: { value: "changed there" } },
		]);

		const merged = await merge(parent, { from: child, strategy: "theirs" });
		expect(merged.status, JSON.stringify(merged.body)).toBe(200);
		expect(merged.body.keys).toEqual([
			{ ns: "task", key: "contested", outcome: "theirs", deleted: true },
			{ ns: "task", key: "gone", outcome: "theirs", deleted: true },
			{ ns: "task", key: "revived", outcome: "theirs", deleted: false },
		]);
		expect(await valueOf(parent, "task", "gone")).toBeNull();
		expect(await valueOf(parent, "task", "contested")).toBeNull();
		expect(await valueOf(parent, "task", "revived")).toBe("changed there");
		expect(await valueOf(parent, "task", "kept")).toBe("kept0");
		expect((await session(parent)).stateKeyCount).toBe(2);

		// A resolution may delete too.
		const again = await fork(parent);
		await put(again, "task", "kept", "edited");
		const deleted = await merge(parent, { from: again, resolutions: [{ ns: "task", key: "kept", deleted: true }] });
		expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
		expect(await valueOf(parent, "task", "kept")).toBeNull();
		expect((await session(parent)).stateKeyCount).toBe(1);
	});

	it("replays a retry with the same Idempotency-Key, and never appends the same events twice", async () => {
		const parent = await createSession();
		const child = await fork(parent);
		await append(child, "only once");
		await put(child, "task", "k", "v");
		const key = `merge-${crypto.randomUUID()}`;
		const first = await merge(parent, { from: child }, { headers: { "idempotency-key": key } });
		expect(first.status).toBe(200);
		const retry = await merge(parent, { from: child }, { headers: { "idempotency-key": key } });
		expect(retry.status).toBe(200);
		expect(retry.headers.get("idempotent-replayed")).toBe("true");
		expect(retry.body).toEqual(first.body);
		const other = await merge(parent, { from: child, strategy: "theirs" }, { headers: { "idempotency-key": key } });
		expect(other.status).toBe(422);
		expect(other.body.error.code).toBe("idempotency_key_reused");
		const repeated = await merge(parent, { from: child });
		expect(repeated.body.changed).toBe(false);
		expect((await events(parent)).map((event) => event.content)).toEqual(["only once"]);
		expect((await session(parent)).version).toBe(first.body.version);
	});

	it("refuses what is not a fork of this session, itself, and missing or deleted sessions, changing nothing", async () => {
		const parent = await createSession();
		const stranger = await createSession();
		const child = await fork(parent);
		const grandchild = await fork(child);
		const adopted = await createSession({ body: { parentId: parent } });
		await put(grandchild, "task", "k", "v");
		const before = await session(parent);

		for (const from of [stranger, grandchild, adopted, parent]) {
			const refused = await merge(parent, { from });
			expect(refused.status, from).toBe(422);
			expect(refused.body.error.code).toBe("not_a_fork");
		}
		// The other way round: a parent is not a fork of its fork.
		expect((await merge(child, { from: parent })).body.error.code).toBe("not_a_fork");
		expect((await merge(parent, { from: newId("nobody") })).status).toBe(404);
		expect((await merge(newId("nobody"), { from: child })).status).toBe(404);
		expect((await merge(parent, { from: child, strategy: "mine" })).status).toBe(400);
		expect((await merge(parent, { from: child, resolutions: [{ ns: "task", key: "k" }] })).status).toBe(400);
		expect((await session(parent)).version).toBe(before.version);

		const deletedChild = await fork(parent);
		expect((await callJson(`/v1/sessions/${deletedChild}`, { method: "DELETE" })).status).toBeLessThan(300);
		expect((await merge(parent, { from: deletedChild })).status).toBe(410);
		expect((await callJson(`/v1/sessions/${parent}`, { method: "DELETE" })).status).toBeLessThan(300);
		expect((await merge(parent, { from: child })).status).toBe(410);
		// The grandchild merges into its own parent.
		expect((await merge(child, { from: grandchild })).status).toBe(200);
	});

	it("honours expectedVersion and If-Match", async () => {
		const parent = await createSession();
		const child = await fork(parent);
		await put(child, "task", "k", "v");
		const { version } = await session(parent);
		const stale = await merge(parent, { from: child, expectedVersion: version - 1 });
		expect(stale.status).toBe(409);
		expect(stale.body.error).toMatchObject({ code: "version_conflict", details: { expectedVersion: version - 1, currentVersion: version } });
		expect((await merge(parent, { from: child }, { headers: { "if-match": `"${version - 1}"` } })).status).toBe(409);
		expect(await valueOf(parent, "task", "k")).toBeNull();
		const current = await merge(parent, { from: child, expectedVersion: version });
		expect(current.status).toBe(200);
		expect(await valueOf(parent, "task", "k")).toBe("v");
	});

	it("needs every namespace and read access to the fork: a narrower credential merges nothing", async () => {
		const parent = await createSession();
		const child = await fork(parent);
		await put(child, "customer", "email", "ada@example.com");
		await put(child, "task", "goal", "refund");
		const token = async (scopes: Record<string, unknown>) => {
			const minted = await callJson("/v1/tokens", { method: "POST", body: { scopes } });
			expect(minted.status).toBe(201);
			return minted.body.token as string;
		};
		const taskOnly = await token({ operations: ["read", "write"], namespaces: ["task"] });
		const refused = await merge(parent, { from: child }, { key: taskOnly });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("namespace_out_of_scope");
		const writeOnly = await token({ operations: ["write"] });
		expect((await merge(parent, { from: child }, { key: writeOnly })).body.error.code).toBe("operation_out_of_scope");
		const parentOnly = await token({ operations: ["read", "write"], sessions: [parent] });
		expect((await merge(parent, { from: child }, { key: parentOnly })).body.error.code).toBe("session_out_of_scope");
		expect(await valueOf(parent, "customer", "email")).toBeNull();
		expect(await valueOf(parent, "task", "goal")).toBeNull();
	});

	it("never merges the reserved documents: a fork's approvals stay in the fork", async () => {
		const parent = await createSession();
		const child = await fork(parent);
		const approval = await callJson(`/v1/sessions/${child}/approvals`, { method: "POST", body: { title: "Refund?", summary: "Refund order 7", requestedBy: "agent" } });
		expect(approval.status).toBe(201);
		const merged = await merge(parent, { from: child });
		expect(merged.status, JSON.stringify(merged.body)).toBe(200);
		expect(merged.body.keys).toEqual([]);
		expect((await callJson(`/v1/sessions/${parent}/approvals`)).body.approvals).toEqual([]);
	});
});

describe("a merge interleaved with writes to its target", () => {
	/** Holds the merge's first copy of a blob into the target's prefix. */
	async function holdBlobCopy(target: string): Promise<PauseGate> {
		const held = new PauseGate((method, key) => method === "put" && key.startsWith(`${sessionPrefix(tenant, target)}blobs/`));
		await useBucket(target, pausingR2(env.BLOBS, held));
		return held;
	}

	it("merges against a write that lands while it copies blobs, never over it", async () => {
		const parent = await createSession();
		await put(parent, "task", "plan", "base");
		const child = await fork(parent);
		await put(child, "task", "plan", "theirs");
		await put(child, "task", "report", "x".repeat(20_000));
		await callJson(`/v1/sessions/${child}/events`, { method: "POST", body: { events: [{ type: "tool_result", content: "y".repeat(20_000) }] } });

		// Report: the late write to a key the fork also changed is a conflict, found in the transaction.
		let held = await holdBlobCopy(parent);
		const reporting = merge(parent, { from: child });
		await held.reached;
		await put(parent, "task", "plan", "ours, written during the merge");
		held.release();
		const reported = await reporting;
		expect(reported.status, JSON.stringify(reported.body)).toBe(409);
		expect(reported.body.error.details.conflicts).toEqual([
			{ ns: "task", key: "plan", base: { value: "base" }, ours: { value: "ours, written during the merge" }, theirs: { value: "theirs" } },
		]);
		expect(await valueOf(parent, "task", "report")).toBeNull();

		// Ours: the late writes stay, the rest of the fork comes in, its blobs copied into the target.
		held = await holdBlobCopy(parent);
		const keeping = merge(parent, { from: child, strategy: "ours" });
		await held.reached;
		await put(parent, "task", "plan", "ours, written again");
		await put(parent, "notes", "late", "unrelated");
		held.release();
		const kept = await keeping;
		expect(kept.status, JSON.stringify(kept.body)).toBe(200);
		expect(await valueOf(parent, "task", "plan")).toBe("ours, written again");
		expect(await valueOf(parent, "notes", "late")).toBe("unrelated");
		const report = (await valueOf(parent, "task", "report")) as { sha256: string };
		expect(await env.BLOBS.head(blobKey(tenant, parent, report.sha256))).not.toBeNull();
		const [event] = await events(parent);
		expect(event.metadata).toMatchObject({ mergedFrom: child });
		expect(await env.BLOBS.head(blobKey(tenant, parent, event.contentRef?.sha256 ?? ""))).not.toBeNull();
		expect(await session(parent)).toMatchObject({ stateKeyCount: 3, eventCount: 1 });
	});
});
