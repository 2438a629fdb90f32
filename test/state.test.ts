import { describe, expect, it } from "vitest";
import { callJson, createSession } from "./helpers";

describe("state", () => {
	it("puts, gets, lists and deletes namespaced keys with versions", async () => {
		const id = await createSession();
		const put = await callJson(`/v1/sessions/${id}/state/workflow/step`, { method: "PUT", body: { value: { step: 3, status: "pushing" } } });
		expect(put.status).toBe(200);
		expect(put.body).toMatchObject({ ns: "workflow", key: "step", version: 2, sessionVersion: 2, deleted: false });
		await callJson(`/v1/sessions/${id}/state/workflow/image`, { method: "PUT", body: { value: "sha256:abc" } });
		await callJson(`/v1/sessions/${id}/state/other/x`, { method: "PUT", body: { value: null } });

		const got = await callJson(`/v1/sessions/${id}/state/workflow/step`);
		expect(got.body).toMatchObject({ value: { step: 3, status: "pushing" }, version: 2 });
		expect(got.headers.get("etag")).toBe('"2"');
		expect((await callJson(`/v1/sessions/${id}/state/other/x`)).body.value).toBeNull();

		const listed = await callJson(`/v1/sessions/${id}/state/workflow?limit=1`);
		expect(listed.body.items.map((item: { key: string }) => item.key)).toEqual(["image"]);
		const next = await callJson(`/v1/sessions/${id}/state/workflow?after=${listed.body.nextAfter}`);
		expect(next.body.items.map((item: { key: string }) => item.key)).toEqual(["step"]);

		const deleted = await callJson(`/v1/sessions/${id}/state/workflow/step`, { method: "DELETE" });
		expect(deleted.body).toMatchObject({ deleted: true, sessionVersion: 5 });
		expect((await callJson(`/v1/sessions/${id}/state/workflow/step`)).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/state/workflow/step`, { method: "DELETE" })).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}`)).body).toMatchObject({ stateKeyCount: 2, version: 5 });
	});

	it("compare-and-set succeeds on the current version and refuses a stale one without changing anything", async () => {
		const id = await createSession();
		const created = await callJson(`/v1/sessions/${id}/state/kv/pages`, { method: "PUT", body: { value: 30, ifVersion: 0 } });
		expect(created.status).toBe(200);
		const exists = await callJson(`/v1/sessions/${id}/state/kv/pages`, { method: "PUT", body: { value: 99, ifVersion: 0 } });
		expect(exists.status).toBe(409);
		expect(exists.body.error.details).toMatchObject({ scope: "key", currentVersion: created.body.version });
		const swapped = await callJson(`/v1/sessions/${id}/state/kv/pages`, { method: "PUT", body: { value: 31, ifVersion: created.body.version } });
		expect(swapped.status).toBe(200);
		const stale = await callJson(`/v1/sessions/${id}/state/kv/pages`, { method: "PUT", body: { value: 32, ifVersion: created.body.version } });
		expect(stale.status).toBe(409);
		const staleDelete = await callJson(`/v1/sessions/${id}/state/kv/pages?ifVersion=${created.body.version}`, { method: "DELETE" });
		expect(staleDelete.status).toBe(409);
		expect((await callJson(`/v1/sessions/${id}/state/kv/pages`)).body).toMatchObject({ value: 31, version: swapped.body.version });
		expect((await callJson(`/v1/sessions/${id}`)).body.version).toBe(swapped.body.sessionVersion);
	});

	it("lets exactly one of many concurrent compare-and-sets on one key win", async () => {
		const id = await createSession();
		const base = await callJson(`/v1/sessions/${id}/state/kv/owner`, { method: "PUT", body: { value: "nobody" } });
		const attempts = await Promise.all(
			Array.from({ length: 50 }, (_, index) =>
				callJson(`/v1/sessions/${id}/state/kv/owner`, { method: "PUT", body: { value: `agent-${index}`, ifVersion: base.body.version } }),
			),
		);
		const winners = attempts.filter((attempt) => attempt.status === 200);
		expect(winners).toHaveLength(1);
		expect(attempts.filter((attempt) => attempt.status === 409)).toHaveLength(49);
		const winnerIndex = attempts.indexOf(winners[0]);
		expect((await callJson(`/v1/sessions/${id}/state/kv/owner`)).body.value).toBe(`agent-${winnerIndex}`);
	});

	it("never lets a compare-and-set succeed against a deleted and recreated key (no ABA)", async () => {
		const id = await createSession();
		const first = await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "PUT", body: { value: 1 } });
		await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "DELETE" });
		await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "PUT", body: { value: 2 } });
		const stale = await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "PUT", body: { value: 3, ifVersion: first.body.version } });
		expect(stale.status).toBe(409);
	});

	it("honours the session-level expectedVersion on state writes", async () => {
		const id = await createSession();
		const stale = await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "PUT", body: { value: 1, expectedVersion: 7 } });
		expect(stale.status).toBe(409);
		expect(stale.body.error.details).toMatchObject({ scope: "session", currentVersion: 1 });
		const staleDelete = await callJson(`/v1/sessions/${id}/state/kv/k`, { method: "DELETE", headers: { "if-match": "9" } });
		expect(staleDelete.status).toBe(409);
		expect((await callJson(`/v1/sessions/${id}/state/kv/k`)).status).toBe(404);
	});
});
