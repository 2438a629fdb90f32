import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BlobStore } from "../src/blobs/blob-store";
import type { SessionObject } from "../src/session/session-object";
import { callJson, createSession, sessionObject } from "./helpers";
import { failingR2, type Outage } from "./faults";

const big = (char: string) => char.repeat(20_000);

describe("large content in R2", () => {
	it("stores content over the inline limit in R2 under the tenant's prefix and returns a reference with a preview", async () => {
		const id = await createSession();
		const appended = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "tool_result", name: "fetch", content: big("a") }, { type: "note", content: "small" }] },
		});
		expect(appended.status).toBe(201);
		const ref = appended.body.events[0].contentRef;
		expect(ref).toMatchObject({ bytes: 20_002, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
		expect(ref.preview.startsWith("aaaa")).toBe(true);
		expect(ref.preview.length).toBeLessThan(300);
		expect(appended.body.events[1].contentRef).toBeUndefined();

		const stored = await env.BLOBS.get(`t/${env.ADMIN_TENANT}/s/${id}/blobs/${ref.sha256}`);
		expect(JSON.parse(await stored!.text())).toBe(big("a"));

		const page = await callJson(`/v1/sessions/${id}/events`);
		expect(page.body.events[0].content).toBeUndefined();
		expect(page.body.events[0].contentRef).toEqual(ref);
		const expanded = await callJson(`/v1/sessions/${id}/events?includeContent=true`);
		expect(expanded.body.events[0].content).toBe(big("a"));
		const blob = await callJson(`/v1/sessions/${id}/blobs/${ref.sha256}`);
		expect(blob.body).toBe(big("a"));
		// Its tokens were counted in full at write time, not from the preview.
		expect(appended.body.events[0].tokens).toBeGreaterThan(1000);
	});

	it("stores large state values in R2 and inlines them on request", async () => {
		const id = await createSession();
		const value = { findings: big("f") };
		await callJson(`/v1/sessions/${id}/state/research/findings`, { method: "PUT", body: { value } });
		const got = await callJson(`/v1/sessions/${id}/state/research/findings`);
		expect(got.body.value).toBeUndefined();
		expect(got.body.valueRef.bytes).toBeGreaterThan(20_000);
		const full = await callJson(`/v1/sessions/${id}/state/research/findings?includeContent=true`);
		expect(full.body.value).toEqual(value);
		const listed = await callJson(`/v1/sessions/${id}/state/research?includeContent=true`);
		expect(listed.body.items[0].value).toEqual(value);
	});

	it("honours a session's own inline limit", async () => {
		const id = await createSession({ body: { policy: { inlineLimitBytes: 1024 } } });
		const appended = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "x".repeat(2000) }] } });
		expect(appended.body.events[0].contentRef).toBeDefined();
	});

	it("answers 503 when R2 is down and commits nothing; writes that need no R2 still succeed", async () => {
		const id = await createSession();
		const outage: Outage = { down: true };
		await runInDurableObject(sessionObject(id), (instance: SessionObject) => {
			instance.dependencies.blobs = new BlobStore(failingR2(env.BLOBS, outage));
		});
		const refused = await callJson(`/v1/sessions/${id}/events`, {
			method: "POST",
			body: { events: [{ type: "note", content: "small first" }, { type: "tool_result", content: big("b") }] },
		});
		expect(refused.status).toBe(503);
		expect(refused.body.error.code).toBe("dependency_unavailable");
		const refusedState = await callJson(`/v1/sessions/${id}/state/kv/big`, { method: "PUT", body: { value: big("c") } });
		expect(refusedState.status).toBe(503);
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ version: 1, eventCount: 0, stateKeyCount: 0 });

		const small = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "note", content: "small" }] } });
		expect(small.status).toBe(201);

		outage.down = false;
		const retried = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: [{ type: "tool_result", content: big("b") }] } });
		expect(retried.status).toBe(201);
	});

	it("never serves another session's blob, even with the right hash", async () => {
		const owner = await createSession();
		const other = await createSession();
		const appended = await callJson(`/v1/sessions/${owner}/events`, { method: "POST", body: { events: [{ type: "note", content: big("z") }] } });
		const sha = appended.body.events[0].contentRef.sha256;
		expect((await callJson(`/v1/sessions/${other}/blobs/${sha}`)).status).toBe(404);
	});

	it("ends an expanded page early once its inlined content passes 8 MiB, and continues it with nextAfter", async () => {
		const id = await createSession();
		for (const key of ["a", "b", "c"]) {
			const put = await callJson(`/v1/sessions/${id}/state/files/${key}`, { method: "PUT", body: { value: key.repeat(3_000_000) } });
			expect(put.status).toBe(200);
		}
		const first = await callJson(`/v1/sessions/${id}/state/files?includeContent=true`);
		expect(first.body.items.map((item: { key: string; value: string }) => [item.key, item.value.length])).toEqual([
			["a", 3_000_000],
			["b", 3_000_000],
		]);
		expect(first.body.nextAfter).toBe("b");
		const rest = await callJson(`/v1/sessions/${id}/state/files?includeContent=true&after=b`);
		expect(rest.body.items.map((item: { key: string }) => item.key)).toEqual(["c"]);
		expect(rest.body.nextAfter).toBeNull();
	});
});
