import { describe, expect, it } from "vitest";
import { callJson, createSession, mintKey, newId, runJobsUntilIdle } from "./helpers";

describe("tenant isolation", () => {
	it("keeps a session of tenant A invisible to every key of tenant B", async () => {
		const tenantA = newId("a").slice(0, 30).toLowerCase();
		const tenantB = newId("b").slice(0, 30).toLowerCase();
		const keyA = await mintKey("writer", tenantA);
		const keyB = await mintKey("admin", tenantB);
		const id = await createSession({ key: keyA, body: { agent: "shared-agent-name" } });
		const appended = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			key: keyA,
			body: { events: [{ type: "note", content: "s".repeat(20_000) }] },
		});
		await callJson(`/v1/sessions/${id}/state/kv/secret`, { method: "PUT", key: keyA, body: { value: "A only" } });
		await runJobsUntilIdle(id, tenantA);
		const sha = appended.body.events[0].contentRef.sha256;

		// Reads, writes and guesses by B all look exactly like a session that does not exist.
		for (const path of [`/v1/sessions/${id}`, `/v1/sessions/${id}/events`, `/v1/sessions/${id}/state/kv/secret`, `/v1/sessions/${id}/state/kv`]) {
			const read = await callJson(path, { key: keyB });
			expect(read.status, path).toBe(404);
			expect(read.body.error.code, path).toBe("session_not_found");
		}
		expect((await callJson(`/v1/sessions/${id}/blobs/${sha}`, { key: keyB })).status).toBe(404);
		const write = await callJson(`/v1/sessions/${id}/events`, { method: "POST", key: keyB, body: { events: [{ type: "note", content: "x" }] } });
		expect(write.status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE", key: keyB })).status).toBe(404);
		const listed = await callJson("/v1/sessions?agent=shared-agent-name", { key: keyB });
		expect(listed.body.sessions).toEqual([]);
		const keys = await callJson("/v1/admin/keys", { key: keyB });
		expect(keys.body.keys.every((key: { tenant: string }) => key.tenant === tenantB)).toBe(true);

		// B may even create the same id: it is a different session in B's space.
		const sameId = await callJson("/v1/sessions", { method: "POST", key: keyB, body: { id } });
		expect(sameId.status).toBe(201);
		expect(sameId.body.version).toBe(1);

		// A's session is untouched by all of that.
		expect((await callJson(`/v1/sessions/${id}`, { key: keyA })).body).toMatchObject({ version: 3, eventCount: 1 });
		expect((await callJson("/v1/sessions?agent=shared-agent-name", { key: keyA })).body.sessions).toHaveLength(1);
	});
});
