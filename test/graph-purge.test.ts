/**
 * A LangGraph thread's data is session content: deleting the session, or erasing its subject,
 * leaves none of it in the object's graph tables and none of its values in R2.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson, createSession, runJobsUntilIdle, sessionObject, waitFor } from "./helpers";

const tenant = env.ADMIN_TENANT;
const GRAPH_TABLES = ["graph_checkpoints", "graph_blobs", "graph_writes", "graph_messages"];

/** Base64 of `bytes` bytes of `fill`: over the inline limit (16 KiB here), a value goes to R2. */
function value(fill: string, bytes: number) {
	return { type: "json", data: btoa(fill.repeat(bytes)) };
}

/** A session of `subject` holding two checkpoints, a mirrored message and pending writes, with values inline and in R2. */
async function graphSession(subject: string): Promise<string> {
	const id = await createSession({ body: { subject } });
	const put = (checkpointId: string, parentCheckpointId: string | null, big: string) =>
		callJson(`/v1/sessions/${id}/graph/checkpoints`, {
			method: "POST",
			body: {
				checkpointId,
				parentCheckpointId,
				format: 4,
				checkpoint: value("{}", 1),
				channelVersions: { big: checkpointId, small: checkpointId },
				metadata: "{}",
				blobs: [
					{ channel: "big", version: checkpointId, ...value(big, 40_000) },
					{ channel: "small", version: checkpointId, ...value("s", 10) },
				],
				conversation: [{ id: `message-${checkpointId}`, role: "user", content: `I am ${subject}` }],
			},
		});
	expect((await put("c1", null, "a")).status).toBe(200);
	expect((await put("c2", "c1", "b")).status).toBe(200);
	const writes = await callJson(`/v1/sessions/${id}/graph/writes`, {
		method: "POST",
		body: { checkpointId: "c2", taskId: "task-1", writes: [{ idx: 0, channel: "big", ...value("w", 30_000) }, { idx: 1, channel: "small", ...value("t", 10) }] },
	});
	expect(writes.status).toBe(200);
	await runJobsUntilIdle(id);
	return id;
}

async function graphRows(id: string): Promise<Record<string, number>> {
	return runInDurableObject(sessionObject(id), (_instance, state) =>
		Object.fromEntries(GRAPH_TABLES.map((table) => [table, state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n])),
	);
}

async function r2Keys(id: string): Promise<string[]> {
	return (await env.BLOBS.list({ prefix: `t/${tenant}/s/${id}/` })).objects.map((object) => object.key);
}

const none = Object.fromEntries(GRAPH_TABLES.map((table) => [table, 0]));

/** Checks the session's graph data is really there before it is removed, so the "after" proves the removal. */
async function expectGraphData(id: string) {
	expect(await graphRows(id)).toEqual({ graph_checkpoints: 2, graph_blobs: 4, graph_writes: 2, graph_messages: 2 });
	// Three values over the inline limit: two channel values and a pending write.
	expect((await r2Keys(id)).length).toBe(3);
}

describe("graph data on deletion and erasure", () => {
	it("a deleted session keeps no checkpoint, channel value, pending write or mirrored message, and none of its values in R2", async () => {
		const id = await graphSession(`user:${crypto.randomUUID()}`);
		await expectGraphData(id);
		const deleted = await callJson(`/v1/sessions/${id}`, { method: "DELETE" });
		expect(deleted.body).toMatchObject({ status: "deleted", purge: "complete" });
		expect(await graphRows(id)).toEqual(none);
		expect(await r2Keys(id)).toEqual([]);
	});

	for (const mode of ["tombstone", "purge"] as const) {
		it(`erasing the subject (${mode}) leaves no graph data in the object and none of its values in R2`, async () => {
			const subject = `user:${crypto.randomUUID()}`;
			const id = await graphSession(subject);
			await expectGraphData(id);
			const started = await callJson(`/v1/subjects/${encodeURIComponent(subject)}/erasure`, { method: "POST", body: { mode } });
			expect(started.status).toBe(202);
			const done = await waitFor(
				"the erasure to complete",
				async () => {
					await runDurableObjectAlarm(env.ERASURE.getByName(`${tenant}/${started.body.id}`)).catch(() => undefined);
					const status = await callJson(`/v1/erasures/${started.body.id}`);
					return status.body.status === "complete" ? status.body : null;
				},
				30_000,
			);
			expect(done.receipt.sessions).toEqual([id]);
			expect(await graphRows(id)).toEqual(none);
			expect(await r2Keys(id)).toEqual([]);
		});
	}
});
