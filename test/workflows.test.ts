import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { callJson, createSession, runJobsUntilIdle, sessionObject } from "./helpers";

const deploy = {
	steps: [
		{ id: "test", action: "run the test suite" },
		{ id: "build", action: "build the image" },
		{ id: "push", action: "push the image to the registry", input: { registry: "ghcr.io/acme" } },
	],
};

async function put(id: string, name: string, body: unknown = deploy) {
	return callJson(`/v1/sessions/${id}/workflows/${name}`, { method: "PUT", body });
}

async function step(id: string, name: string, stepId: string, action: "start" | "complete" | "fail" | "skip", body: unknown) {
	return callJson(`/v1/sessions/${id}/workflows/${name}/steps/${stepId}/${action}`, { method: "POST", body });
}

async function workflow(id: string, name = "deploy") {
	return (await callJson(`/v1/sessions/${id}/workflows/${name}`)).body;
}

/** Moves the step's claim into the past, as a claimant that crashed long ago would leave it. */
async function expireClaims(id: string) {
	await runInDurableObject(sessionObject(id), (_instance, state) => {
		const row = state.storage.sql.exec<{ value: string }>("SELECT value FROM state WHERE ns = '_workflows' AND key = 'deploy'").one();
		const document = JSON.parse(row.value) as { steps: Array<{ claimExpiresAt?: number }> };
		for (const candidate of document.steps) if (candidate.claimExpiresAt) candidate.claimExpiresAt = Date.now() - 1000;
		state.storage.sql.exec("UPDATE state SET value = ? WHERE ns = '_workflows' AND key = 'deploy'", JSON.stringify(document));
	});
}

describe("workflows", () => {
	it("resumes a deployment at its next incomplete step after a crash", async () => {
		const id = await createSession();
		const created = await put(id, "deploy");
		expect(created.status).toBe(200);
		expect(created.body).toMatchObject({ status: "running", next: { id: "test", attempt: 1 } });
		for (const stepId of ["test", "build"]) {
			expect((await step(id, "deploy", stepId, "start", { by: "agent-1" })).status).toBe(200);
			expect((await step(id, "deploy", stepId, "complete", { result: { ok: true } })).status).toBe(200);
		}
		expect((await step(id, "deploy", "push", "start", { by: "agent-1", claimSeconds: 60 })).status).toBe(200);
		await evictDurableObject(sessionObject(id));

		const after = await workflow(id);
		expect(after.steps.map((entry: { status: string }) => entry.status)).toEqual(["completed", "completed", "in_progress"]);
		expect(after.steps[2]).toMatchObject({ attempts: 1, claimedBy: "agent-1" });
		expect(after.next).toMatchObject({ id: "push", attempt: 1 });

		const stolen = await step(id, "deploy", "push", "start", { by: "agent-2" });
		expect(stolen.status).toBe(409);
		expect(stolen.body.error).toMatchObject({ code: "step_conflict", details: { claimedBy: "agent-1" } });
		const resumed = await step(id, "deploy", "push", "start", { by: "agent-1" });
		expect(resumed.body.steps[2].attempts).toBe(1);

		await expireClaims(id);
		const takeover = await step(id, "deploy", "push", "start", { by: "agent-2" });
		expect(takeover.status).toBe(200);
		expect(takeover.body.steps[2]).toMatchObject({ attempts: 2, claimedBy: "agent-2" });
		const completed = await step(id, "deploy", "push", "complete", { result: { digest: "sha256:abc" } });
		expect(completed.body).toMatchObject({ status: "completed", next: null });
	});

	it("treats the same definition as a retry and another one as 409; lists workflows", async () => {
		const id = await createSession();
		const first = await put(id, "deploy");
		const again = await put(id, "deploy");
		expect(again.status).toBe(200);
		expect(again.body.version).toBe(first.body.version);
		const other = await put(id, "deploy", { steps: [{ id: "only", action: "something else" }] });
		expect(other.status).toBe(409);
		expect(other.body.error.code).toBe("workflow_exists");
		await put(id, "cleanup", { steps: [{ id: "a", action: "clean" }] });
		expect((await callJson(`/v1/sessions/${id}/workflows`)).body.workflows.map((entry: { name: string }) => entry.name)).toEqual(["cleanup", "deploy"]);
	});

	it("records failures as error events in the context, stops at the attempt limit and escalates once", async () => {
		const id = await createSession();
		await put(id, "deploy", { ...deploy, maxAttempts: 2 });
		for (const attempt of [1, 2]) {
			await step(id, "deploy", "test", "start", { by: "agent" });
			const failed = await step(id, "deploy", "test", "fail", {
				error: { message: `npm ERR! exit ${attempt}`, kind: "test_failure" },
				lesson: "run npm ci before npm test",
			});
			expect(failed.status).toBe(200);
			expect(failed.body.status).toBe(attempt === 1 ? "running" : "failed");
		}
		const refused = await step(id, "deploy", "test", "start", { by: "agent" });
		expect(refused.status).toBe(409);
		const window = (await callJson(`/v1/sessions/${id}/context?budget=4000`)).body;
		const errors = window.items.filter((item: { type?: string }) => item.type === "error").map((item: { content: string }) => item.content);
		expect(errors).toEqual([
			"tried run the test suite (attempt 1): npm ERR! exit 1 → lesson: run npm ci before npm test",
			"tried run the test suite (attempt 2): npm ERR! exit 2 → lesson: run npm ci before npm test",
		]);
		await runJobsUntilIdle(id);
		await runJobsUntilIdle(id);
		const escalations = (await callJson(`/v1/sessions/${id}/events?types=escalation`)).body.events;
		expect(escalations).toHaveLength(1);
		expect(escalations[0].content).toMatchObject({ reason: "workflow_failed", workflow: { name: "deploy", failedStep: { id: "test", attempts: 2 } } });
	});

	it("refuses a start beyond the attempt limit with 422 retry_limit_reached after a crashed attempt", async () => {
		const id = await createSession();
		await put(id, "deploy", { ...deploy, maxAttempts: 1 });
		await step(id, "deploy", "test", "start", { by: "agent-1" });
		await evictDurableObject(sessionObject(id));
		await expireClaims(id);
		const refused = await step(id, "deploy", "test", "start", { by: "agent-2" });
		expect(refused.status).toBe(422);
		expect(refused.body.error.code).toBe("retry_limit_reached");
	});

	it("honours `after`, skips, and rejects bad definitions with the path", async () => {
		const id = await createSession();
		const parallel = await put(id, "fanout", {
			steps: [
				{ id: "a", action: "fetch A", after: [] },
				{ id: "b", action: "fetch B", after: [] },
				{ id: "merge", action: "merge A and B", after: ["a", "b"] },
			],
		});
		expect(parallel.body.next).toMatchObject({ id: "a" });
		expect((await step(id, "fanout", "b", "start", { by: "x" })).status).toBe(200);
		expect((await step(id, "fanout", "merge", "start", { by: "x" })).body.error.code).toBe("step_conflict");
		await step(id, "fanout", "b", "complete", {});
		await step(id, "fanout", "a", "skip", { reason: "cached" });
		expect((await workflow(id, "fanout")).next).toMatchObject({ id: "merge", attempt: 1 });

		const duplicate = await put(id, "bad", { steps: [{ id: "x", action: "one" }, { id: "x", action: "two" }] });
		expect(duplicate.status).toBe(400);
		expect(duplicate.body.error.details.issues[0].path).toBe("steps.1.id");
		const cycle = await put(id, "bad", { steps: [{ id: "x", action: "one", after: ["y"] }, { id: "y", action: "two", after: ["x"] }] });
		expect(cycle.status).toBe(400);
		expect(JSON.stringify(cycle.body.error)).toContain("cycle");
		const tooMany = await put(id, "bad", { steps: Array.from({ length: 501 }, (_, index) => ({ id: `s${index}`, action: "a" })) });
		expect(tooMany.status).toBe(400);
		expect((await callJson(`/v1/sessions/${id}/workflows/missing`)).status).toBe(404);
		expect((await step(id, "fanout", "nope", "start", { by: "x" })).status).toBe(404);
		expect((await callJson(`/v1/sessions/${id}/workflows`)).body.workflows).toHaveLength(1);
	});

	it("is versioned with the session: restore to a checkpoint rewinds the workflow", async () => {
		const id = await createSession();
		await put(id, "deploy");
		await callJson(`/v1/sessions/${id}/checkpoints`, { method: "POST", body: { name: "before" } });
		await step(id, "deploy", "test", "start", { by: "a" });
		await step(id, "deploy", "test", "complete", {});
		expect((await workflow(id)).next.id).toBe("build");
		await callJson(`/v1/sessions/${id}/restore`, { method: "POST", body: { checkpoint: "before" } });
		expect((await workflow(id)).next).toMatchObject({ id: "test", attempt: 1 });
		// Workflow documents never show up as user state.
		expect((await callJson(`/v1/sessions/${id}`)).body.stateKeyCount).toBe(0);
	});

	it("shows open work in the context window: workflows with their next step, pending approvals, recent failures; at=V rebuilds it", async () => {
		const id = await createSession();
		await put(id, "deploy");
		await step(id, "deploy", "test", "start", { by: "a" });
		await step(id, "deploy", "test", "fail", { error: { message: "registry timeout" }, lesson: "retry with --network-timeout 60000" });
		await callJson(`/v1/sessions/${id}/approvals`, {
			method: "POST",
			body: { id: "prod", title: "Deploy to production", summary: "All checks green", requestedBy: "deploy-agent" },
		});
		const window = (await callJson(`/v1/sessions/${id}/context?budget=4000`)).body;
		const block = window.items.find((item: { kind: string }) => item.kind === "work_status");
		expect(block.content).toContain('workflow deploy (running): next → test "run the test suite" (attempt 2)');
		expect(block.content).toContain("approval prod pending since");
		expect(block.content).toContain("tried run the test suite (attempt 1): registry timeout → lesson: retry with --network-timeout 60000");
		expect(window.items.indexOf(block)).toBe(0);
		expect(block.tokens).toBeLessThanOrEqual(600);

		await step(id, "deploy", "test", "start", { by: "a" });
		await step(id, "deploy", "test", "complete", {});
		expect((await callJson(`/v1/sessions/${id}/context?budget=4000&at=${window.version}`)).body).toEqual(window);
		const tiny = (await callJson(`/v1/sessions/${id}/context?budget=40`)).body;
		expect(tiny.items.find((item: { kind: string }) => item.kind === "work_status")).toBeUndefined();
	});

	it("refuses an outcome reported by a claimant whose claim was taken over", async () => {
		const id = await createSession();
		await put(id, "deploy");
		await step(id, "deploy", "test", "start", { by: "slow" });
		await expireClaims(id);
		await step(id, "deploy", "test", "start", { by: "fast" });
		const late = await step(id, "deploy", "test", "complete", { by: "slow", result: "stale" });
		expect(late.status).toBe(409);
		expect(late.body.error.details).toMatchObject({ claimedBy: "fast" });
		expect((await step(id, "deploy", "test", "fail", { by: "slow", error: { message: "x" } })).status).toBe(409);
		expect((await step(id, "deploy", "test", "complete", { by: "fast" })).status).toBe(200);
	});

	it("fails and escalates a workflow whose last attempt's claimant died", async () => {
		const id = await createSession();
		await put(id, "deploy", { ...deploy, maxAttempts: 1 });
		await step(id, "deploy", "test", "start", { by: "agent", claimSeconds: 1 });
		await evictDurableObject(sessionObject(id));
		await new Promise((resolve) => setTimeout(resolve, 2200));
		expect(await workflow(id)).toMatchObject({ status: "failed", next: null });
		await runJobsUntilIdle(id);
		const escalations = (await callJson(`/v1/sessions/${id}/events?types=escalation`)).body.events;
		expect(escalations).toHaveLength(1);
		expect(escalations[0].content).toMatchObject({ reason: "workflow_failed", workflow: { failedStep: { id: "test", status: "in_progress", attempts: 1 } } });
	});
});
