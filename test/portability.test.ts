import { describe, expect, it } from "vitest";
import { graphSession } from "./graph-data";
import { call, callJson, createSession, newId, runJobsUntilIdle } from "./helpers";

const bulky = (label: string) => ({ type: "tool_result", name: "search", content: `${label}: ${"a result line with several words ".repeat(30)}` });

async function exportText(id: string): Promise<string> {
	const response = await call(`/v1/sessions/${id}/export`);
	expect(response.status).toBe(200);
	expect(response.headers.get("content-type")).toContain("application/x-ndjson");
	return response.text();
}

async function importText(text: string, id?: string, contentType = "application/x-ndjson") {
	return callJson(`/v1/sessions/import${id ? `?id=${id}` : ""}`, { method: "POST", rawBody: text, headers: { "content-type": contentType } });
}

/** A session with a bit of everything: R2 content, state history, compactions, a restore, a workflow, an approval. */
async function richSession(): Promise<{ id: string; versions: number[] }> {
	const id = await createSession({ body: { agent: "researcher", policy: { modelWindowTokens: 1_000_000, keepRecentEvents: 2 } } });
	const versions: number[] = [];
	const append = async (...events: unknown[]) => versions.push((await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events } })).body.version);
	await append({ type: "message", role: "user", content: "survey CRDT papers" }, bulky("r1"), bulky("r2"));
	await append({ type: "tool_result", name: "fetch", content: "x".repeat(20_000) }, { type: "decision", content: "focus on delta CRDTs", pinned: true });
	await callJson(`/v1/sessions/${id}/state/progress/pages`, { method: "PUT", body: { value: 12 } });
	await callJson(`/v1/sessions/${id}/state/progress/notes`, { method: "PUT", body: { value: { text: "y".repeat(20_000) } } });
	await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "cp" } });
	await append(bulky("r3"), bulky("r4"), bulky("r5"));
	expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
	versions.push((await callJson(`/v1/sessions/${id}`)).body.version);
	await callJson(`/v1/sessions/${id}/state/progress/pages`, { method: "PUT", body: { value: 31 } });
	await callJson(`/v1/sessions/${id}/workflows/deploy`, { method: "PUT", body: { steps: [{ id: "a", action: "do a" }, { id: "b", action: "do b" }] } });
	await callJson(`/v1/sessions/${id}/workflows/deploy/steps/a/start`, { method: "POST", body: { by: "agent" } });
	await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: { id: "ok", title: "Publish", summary: "ready", requestedBy: "agent" } });
	await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "cp" } });
	await append(bulky("after restore"));
	await callJson(`/v1/sessions/${id}/workflows/release`, { method: "PUT", body: { steps: [{ id: "tag", action: "tag the release" }] } });
	await callJson(`/v1/sessions/${id}/approvals`, { method: "POST", body: { id: "ship", title: "Ship it", summary: "all green", requestedBy: "agent", deadline: "2030-01-01T00:00:00Z" } });
	await runJobsUntilIdle(id);
	return { id, versions };
}

describe("export and import", () => {
	it("round-trips a session losslessly: export(import(export(s))) is export(s) but for the id, and windows at=V are equal", async () => {
		const { id, versions } = await richSession();
		const first = await exportText(id);
		const copy = newId("copy");
		const imported = await importText(first, copy);
		expect(imported.status).toBe(201);
		expect(imported.body).toMatchObject({ id: copy, agent: "researcher" });
		const second = await exportText(copy);
		expect(second).toBe(first.replace(`"sessionId":"${id}"`, `"sessionId":"${copy}"`));

		const original = (await callJson(`/v1/sessions/${id}`)).body;
		expect((await callJson(`/v1/sessions/${copy}`)).body).toMatchObject({ version: original.version, eventCount: original.eventCount, tokens: original.tokens });
		for (const version of [...versions, original.version]) {
			const query = `context?budget=50000&at=${version}`;
			expect((await callJson(`/v1/sessions/${copy}/${query}`)).body, `window at ${version}`).toEqual((await callJson(`/v1/sessions/${id}/${query}`)).body);
		}
		const archived = (await callJson(`/v1/sessions/${copy}/events?includeArchived=true&includeContent=true`)).body.events;
		expect(archived).toEqual((await callJson(`/v1/sessions/${id}/events?includeArchived=true&includeContent=true`)).body.events);
		for (const path of ["workflows", "approvals", "checkpoints", "compactions", "state/progress"]) {
			const theirs = JSON.stringify((await callJson(`/v1/sessions/${id}/${path}`)).body).replaceAll(id, copy);
			expect(JSON.stringify((await callJson(`/v1/sessions/${copy}/${path}`)).body), path).toBe(theirs);
		}
		// The copy is a session of its own: it takes writes.
		expect((await callJson(`/v1/sessions/${copy}/events`, { method: "POST", body: { events: [{ type: "note", content: "continued elsewhere" }] } })).status).toBe(201);
	});

	it("carries a LangGraph thread: checkpoints, channel values (inline and from R2), pending writes and the mirrored messages", async () => {
		const id = await graphSession(`user:${crypto.randomUUID()}`);
		const first = await exportText(id);
		expect(first).toContain('"kind":"graph_checkpoint"');
		const copy = newId("graph-copy");
		expect((await importText(first, copy)).status).toBe(201);
		expect(await exportText(copy)).toBe(first.replace(`"sessionId":"${id}"`, `"sessionId":"${copy}"`));
		for (const path of ["graph/tuple", "graph/tuple?checkpointId=c1", "graph/checkpoints"]) {
			const theirs = JSON.stringify((await callJson(`/v1/sessions/${id}/${path}`)).body).replaceAll(id, copy);
			expect(JSON.stringify((await callJson(`/v1/sessions/${copy}/${path}`)).body) === theirs, path).toBe(true);
		}
		const tuple = (await callJson(`/v1/sessions/${copy}/graph/tuple`)).body.tuple;
		expect(tuple.writes).toHaveLength(2);
		expect(atob(tuple.blobs.find((blob: { channel: string }) => blob.channel === "big").data)).toBe("b".repeat(40_000));
		// The mirrored messages came along: the next put does not mirror them again.
		const again = await callJson(`/v1/sessions/${copy}/graph/checkpoints`, {
			method: "POST",
			body: { checkpointId: "c3", parentCheckpointId: "c2", format: 4, checkpoint: { type: "json", data: btoa("{}") }, channelVersions: {}, metadata: "{}", blobs: [], conversation: [{ id: "message-c1", role: "user", content: "again" }] },
		});
		expect(again.status).toBe(200);
		expect((await callJson(`/v1/sessions/${copy}/events?types=message`)).body.events).toHaveLength(2);
	});

	it("makes the copy of a fork a session of its own: no parent, no fork point, not in the original's lineage", async () => {
		const parent = await createSession();
		await callJson(`/v1/sessions/${parent}/events`, { method: "POST", body: { events: [{ type: "note", content: "before the fork" }] } });
		const fork = (await callJson(`/v1/sessions/${parent}/fork`, { method: "POST", body: {} })).body.id;
		const document = await exportText(fork);
		const copy = newId("fork-copy");
		expect((await importText(document, copy)).status).toBe(201);
		expect((await callJson(`/v1/sessions/${copy}`)).body).toMatchObject({ parentId: null, forkedFrom: null });
		// A document that names a parent anyway does not make the copy anyone's child.
		const crafted = document.replace('"row":{', `"row":{"parent_id":"${parent}",`);
		const craftedCopy = newId("crafted");
		expect((await importText(crafted, craftedCopy)).status).toBe(201);
		expect((await callJson(`/v1/sessions/${craftedCopy}`)).body.parentId).toBeNull();
		for (const session of [fork, copy, craftedCopy]) await runJobsUntilIdle(session);
		const lineage = (await callJson(`/v1/sessions/${parent}/lineage`)).body;
		expect(lineage.sessions.map((node: { id: string }) => node.id).sort()).toEqual([parent, fork].sort());
	});

	it("refuses bytes where a column holds none, text where it holds bytes, and graph metadata that is not JSON, creating nothing", async () => {
		const id = await graphSession(`user:${crypto.randomUUID()}`);
		const lines = (await exportText(id)).trimEnd().split("\n").map((line) => JSON.parse(line));
		const tamper = (change: (line: Record<string, any>) => boolean) => {
			const copy = structuredClone(lines);
			expect(copy.some(change)).toBe(true);
			return `${copy.map((line) => JSON.stringify(line)).join("\n")}\n`;
		};
		const bytesInText = tamper((line) => line.kind === "graph_checkpoint" && Boolean((line.row.metadata = { base64: "e30=" })));
		const textInBytes = tamper((line) => line.kind === "graph_blob" && line.row.data !== null && Boolean((line.row.data = "not bytes")));
		const notJson = tamper((line) => line.kind === "graph_checkpoint" && Boolean((line.row.metadata = "{not json")));
		for (const document of [bytesInText, textInBytes, notJson]) {
			const target = newId("bad-graph");
			const refused = await importText(document, target);
			expect(refused.status).toBe(400);
			expect(refused.body.error.code).toBe("validation_failed");
			expect((await callJson(`/v1/sessions/${target}`)).status).toBe(404);
		}
	});

	it("refuses malformed, truncated, inconsistent or oversized documents with a 4xx and creates nothing", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "z".repeat(20_000) }] } });
		const text = await exportText(id);
		const lines = text.trimEnd().split("\n");
		const cases: Array<[string, string, number]> = [
			["not JSON", [lines[0], "{oops", ...lines.slice(2)].join("\n"), 400],
			["truncated", lines.slice(0, -1).join("\n"), 400],
			["wrong end count", [...lines.slice(0, -1), JSON.stringify({ kind: "end", lines: 99 })].join("\n"), 400],
			["no header", lines.slice(1).join("\n"), 400],
			["unknown column", text.replace('"type":"note"', '"type":"note","evil":"x"'), 400],
			["tampered blob", text.replace(/"content":"\\"z{10}/, '"content":"\\"Z'), 400],
			["unknown format version", text.replace('"formatVersion":1', '"formatVersion":2'), 400],
			["seqs beyond the session's counters", text.replace(/"last_seq":\d+/, '"last_seq":0'), 400],
			["a time that is not a number", text.replace(/"created_at":\d+/, '"created_at":"soon"'), 400],
			["policy that is not JSON", text.replace('"policy":"{}"', '"policy":"x"'), 400],
			["a blob the rows reference is missing", lines.filter((line) => !line.includes('"kind":"blob"')).join("\n").replace(/"lines":\d+/, `"lines":${lines.length - 1}`), 400],
			["empty", "", 400],
		];
		for (const [name, body, status] of cases) {
			const target = newId("bad");
			const refused = await importText(body, target);
			expect(refused.status, name).toBe(status);
			expect(refused.body.error.code, name).toBe("validation_failed");
			expect((await callJson(`/v1/sessions/${target}`)).status, name).toBe(404);
		}
		const target = newId("bad");
		expect((await importText(text, target, "application/json")).status).toBe(415);
		const huge = `${lines[0]}\n${JSON.stringify({ kind: "blob", sha256: "0".repeat(64), content: "q".repeat(4_300_000) })}\n`;
		expect((await importText(huge, target)).status).toBe(413);
		expect((await callJson(`/v1/sessions/${target}`)).status).toBe(404);
		expect((await importText(text, id)).status).toBe(409);
	});
});
