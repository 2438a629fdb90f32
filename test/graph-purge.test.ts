/**
 * A LangGraph thread's data is session content: deleting the session, or erasing its subject,
 * leaves none of it in the object's graph tables and none of its values in R2.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GRAPH_TABLES, graphRows, graphSession, r2Keys } from "./graph-data";
import { callJson, waitFor } from "./helpers";

const tenant = env.ADMIN_TENANT;

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
