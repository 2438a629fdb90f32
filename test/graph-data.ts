/** A session holding a LangGraph thread's data (checkpoints, values inline and in R2, pending writes, mirrored messages), and how to see it. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";

export const GRAPH_TABLES = ["graph_checkpoints", "graph_blobs", "graph_writes", "graph_messages"];

/** Base64 of `bytes` bytes of `fill`: over the inline limit (16 KiB here), a value goes to R2. */
function value(fill: string, bytes: number) {
	return { type: "json", data: btoa(fill.repeat(bytes)) };
}

/** A session of `subject` holding two checkpoints, a mirrored message and pending writes, with values inline and in R2. */
export async function graphSession(subject: string): Promise<string> {
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

export async function graphRows(id: string): Promise<Record<string, number>> {
	return runInDurableObject(sessionObject(id), (_instance, state) =>
		Object.fromEntries(GRAPH_TABLES.map((table) => [table, state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n])),
	);
}

export async function r2Keys(id: string): Promise<string[]> {
	return (await env.BLOBS.list({ prefix: `t/${env.ADMIN_TENANT}/s/${id}/` })).objects.map((object) => object.key);
}
