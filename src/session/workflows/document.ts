/**
 * A workflow as a document, and its transitions: pure functions from (document, request,
 * clock) to the next document or a failure. The operations (operations.ts) load and store the
 * document inside one kernel write, so each transition is atomic and versioned.
 *
 * Invariants: steps keep their definition order; a step's attempts only grow, by one per
 * start that is not the same claimant resuming its claim; a step never runs before the steps
 * it depends on are completed or skipped; at the attempt limit a failure fails the step and
 * the workflow, and no later start is accepted.
 */
import { type Failure, fail, ok, type Result } from "../../errors";
import type { Json } from "../../schemas/common";
import { dependenciesOf, type PutWorkflowBody, type Workflow, type WorkflowStep } from "../../schemas/workflows";

/** The reserved state namespace workflows are stored in (state/system.ts). */
export const WORKFLOWS_NS = "_workflows";

export interface StepDocument {
	id: string;
	action: string;
	input?: Json;
	after?: string[];
	status: WorkflowStep["status"];
	attempts: number;
	result?: Json;
	lastError?: { message: string; kind?: string; detail?: Json };
	lesson?: string;
	claimedBy?: string;
	claimExpiresAt?: number;
	blockedBy?: string;
	startedAt?: number;
	completedAt?: number;
	skipReason?: string;
}

export interface WorkflowDocument {
	name: string;
	maxAttempts: number;
	/** The definition as created, to tell a retried create from a different one. */
	definition: string;
	steps: StepDocument[];
	createdAt: number;
	updatedAt: number;
}

export function definitionOf(body: PutWorkflowBody): string {
	return JSON.stringify({ steps: body.steps.map(({ id, action, input, after }) => ({ id, action, input, after })), maxAttempts: body.maxAttempts });
}

export function createDocument(name: string, body: PutWorkflowBody, now: number): WorkflowDocument {
	return {
		name,
		maxAttempts: body.maxAttempts,
		definition: definitionOf(body),
		steps: body.steps.map((step) => ({
			id: step.id,
			action: step.action,
			...(step.input === undefined ? {} : { input: step.input }),
			...(step.after === undefined ? {} : { after: step.after }),
			status: "pending",
			attempts: 0,
		})),
		createdAt: now,
		updatedAt: now,
	};
}

const done = (step: StepDocument) => step.status === "completed" || step.status === "skipped";

function waitingFor(document: WorkflowDocument, index: number): string[] {
	const byId = new Map(document.steps.map((step) => [step.id, step]));
	return dependenciesOf(document.steps, index).filter((id) => {
		const dependency = byId.get(id);
		return dependency !== undefined && !done(dependency);
	});
}

/**
 * A step whose claimant died on its last allowed attempt: nobody may take it over, so the
 * workflow has failed as surely as if the attempt had been reported failed.
 */
export function isStalled(document: WorkflowDocument, step: StepDocument, now: number): boolean {
	return step.status === "in_progress" && step.attempts >= document.maxAttempts && (step.claimExpiresAt ?? 0) <= now;
}

export function workflowStatus(document: WorkflowDocument, now: number): Workflow["status"] {
	if (document.steps.some((step) => step.status === "failed" || isStalled(document, step, now))) return "failed";
	if (document.steps.every(done)) return "completed";
	if (document.steps.some((step) => step.blockedBy !== undefined && !done(step))) return "waiting";
	return "running";
}

/** The first incomplete step whose dependencies are done, and the attempt it would be. */
export function nextStep(document: WorkflowDocument, now: number): { id: string; action: string; attempt: number } | null {
	if (workflowStatus(document, now) === "failed") return null;
	for (const [index, step] of document.steps.entries()) {
		if (done(step) || step.status === "failed" || step.blockedBy !== undefined) continue;
		if (waitingFor(document, index).length > 0) continue;
		const resumable = step.status === "in_progress" && (step.claimExpiresAt ?? 0) > now;
		return { id: step.id, action: step.action, attempt: resumable ? step.attempts : step.attempts + 1 };
	}
	return null;
}

function locate(document: WorkflowDocument, stepId: string): Result<{ step: StepDocument; index: number }> {
	const index = document.steps.findIndex((step) => step.id === stepId);
	if (index < 0) return fail("not_found", `Workflow ${document.name} has no step ${stepId}`, { workflow: document.name, step: stepId });
	return ok({ step: document.steps[index], index });
}

function replaced(document: WorkflowDocument, index: number, step: StepDocument, now: number): WorkflowDocument {
	return { ...document, steps: document.steps.map((current, position) => (position === index ? step : current)), updatedAt: now };
}

function conflict(document: WorkflowDocument, step: StepDocument, message: string, details: Record<string, unknown> = {}): Failure {
	return fail("step_conflict", message, { workflow: document.name, step: step.id, status: step.status, ...details });
}

/**
 * Claims a step for `by`. The same claimant resumes its unexpired claim without a new
 * attempt; an expired claim (its claimant crashed) is taken over as a new attempt.
 */
export function startStep(document: WorkflowDocument, stepId: string, by: string, claimSeconds: number, now: number): Result<{ document: WorkflowDocument; attempt: number; resumed: boolean }> {
	const found = locate(document, stepId);
	if (!found.ok) return found;
	const { step, index } = found.value;
	if (isStalled(document, step, now)) {
		return fail("retry_limit_reached", `Step ${step.id} has used its ${document.maxAttempts} attempts; the last claimant did not finish`, {
			workflow: document.name,
			step: step.id,
			attempts: step.attempts,
		});
	}
	if (workflowStatus(document, now) === "failed") return conflict(document, step, `Workflow ${document.name} has failed`);
	if (done(step) || step.status === "failed") return conflict(document, step, `Step ${step.id} is ${step.status}`);
	if (step.blockedBy !== undefined) return conflict(document, step, `Step ${step.id} waits for approval ${step.blockedBy}`, { approval: step.blockedBy });
	const waiting = waitingFor(document, index);
	if (waiting.length > 0) return conflict(document, step, `Step ${step.id} waits for ${waiting.join(", ")}`, { waitingFor: waiting });
	const claimLive = step.status === "in_progress" && (step.claimExpiresAt ?? 0) > now;
	if (claimLive && step.claimedBy !== by) {
		return conflict(document, step, `Step ${step.id} is claimed by ${step.claimedBy} until ${new Date(step.claimExpiresAt ?? now).toISOString()}`, {
			claimedBy: step.claimedBy,
			claimExpiresAt: new Date(step.claimExpiresAt ?? now).toISOString(),
		});
	}
	const claimExpiresAt = now + claimSeconds * 1000;
	if (claimLive) return ok({ document: replaced(document, index, { ...step, claimExpiresAt }, now), attempt: step.attempts, resumed: true });
	if (step.attempts >= document.maxAttempts) {
		return fail("retry_limit_reached", `Step ${step.id} has used its ${document.maxAttempts} attempts`, { workflow: document.name, step: step.id, attempts: step.attempts });
	}
	const started: StepDocument = { ...step, status: "in_progress", attempts: step.attempts + 1, claimedBy: by, claimExpiresAt, startedAt: now };
	return ok({ document: replaced(document, index, started, now), attempt: started.attempts, resumed: false });
}

/** Complete and fail act on the running attempt: by its claimant, when the caller says who it is. */
function runningAttempt(document: WorkflowDocument, step: StepDocument, by: string | undefined): Failure | null {
	if (step.status !== "in_progress") return conflict(document, step, `Step ${step.id} is ${step.status}, not in progress`);
	if (by !== undefined && step.claimedBy !== by) {
		return conflict(document, step, `Step ${step.id} is claimed by ${step.claimedBy}, not ${by}: its claim was taken over`, { claimedBy: step.claimedBy });
	}
	return null;
}

export function completeStep(document: WorkflowDocument, stepId: string, result: Json | undefined, by: string | undefined, now: number): Result<WorkflowDocument> {
	const found = locate(document, stepId);
	if (!found.ok) return found;
	const { step, index } = found.value;
	const refused = runningAttempt(document, step, by);
	if (refused) return refused;
	const { claimedBy: _by, claimExpiresAt: _until, ...rest } = step;
	return ok(replaced(document, index, { ...rest, status: "completed", ...(result === undefined ? {} : { result }), completedAt: now }, now));
}

/** A failure puts the step back to pending, or at the attempt limit fails it (and the workflow). */
export function failStep(
	document: WorkflowDocument,
	stepId: string,
	error: NonNullable<StepDocument["lastError"]>,
	lesson: string | undefined,
	by: string | undefined,
	now: number,
): Result<{ document: WorkflowDocument; step: StepDocument; exhausted: boolean }> {
	const found = locate(document, stepId);
	if (!found.ok) return found;
	const { step, index } = found.value;
	const refused = runningAttempt(document, step, by);
	if (refused) return refused;
	const exhausted = step.attempts >= document.maxAttempts;
	const { claimedBy: _by, claimExpiresAt: _until, ...rest } = step;
	const failed: StepDocument = { ...rest, status: exhausted ? "failed" : "pending", lastError: error, ...(lesson === undefined ? {} : { lesson }) };
	return ok({ document: replaced(document, index, failed, now), step: failed, exhausted });
}

export function skipStep(document: WorkflowDocument, stepId: string, reason: string, now: number): Result<WorkflowDocument> {
	const found = locate(document, stepId);
	if (!found.ok) return found;
	const { step, index } = found.value;
	if (done(step) || step.status === "failed") return conflict(document, step, `Step ${step.id} is ${step.status}`);
	if (step.blockedBy !== undefined) return conflict(document, step, `Step ${step.id} waits for approval ${step.blockedBy}; decide it first`, { approval: step.blockedBy });
	const { claimedBy: _by, claimExpiresAt: _until, ...rest } = step;
	return ok(replaced(document, index, { ...rest, status: "skipped", skipReason: reason, completedAt: now }, now));
}

/** Marks a step as waiting for an approval: a pending step that waits for no other one. */
export function blockStep(document: WorkflowDocument, stepId: string, approvalId: string, now: number): Result<WorkflowDocument> {
	const found = locate(document, stepId);
	if (!found.ok) return found;
	const { step, index } = found.value;
	if (step.status !== "pending") return conflict(document, step, `Step ${step.id} is ${step.status}; only a pending step can wait for an approval`);
	if (step.blockedBy !== undefined) return conflict(document, step, `Step ${step.id} already waits for approval ${step.blockedBy}`, { approval: step.blockedBy });
	return ok(replaced(document, index, { ...step, blockedBy: approvalId }, now));
}

/** An approval was decided: approve lets the step run; reject fails it and the workflow. */
export function unblockStep(document: WorkflowDocument, stepId: string, approvalId: string, approved: boolean, now: number): WorkflowDocument {
	const index = document.steps.findIndex((step) => step.id === stepId && step.blockedBy === approvalId && step.status === "pending");
	if (index < 0) return document;
	const { blockedBy: _blocked, ...step } = document.steps[index];
	if (approved) return replaced(document, index, step, now);
	return replaced(document, index, { ...step, status: "failed", lastError: { message: `approval ${approvalId} was rejected`, kind: "rejected" } }, now);
}

export function toView(document: WorkflowDocument, version: number, now: number): Workflow {
	const iso = (time: number | undefined) => (time === undefined ? undefined : new Date(time).toISOString());
	return {
		name: document.name,
		status: workflowStatus(document, now),
		maxAttempts: document.maxAttempts,
		steps: document.steps.map(({ claimExpiresAt, startedAt, completedAt, ...step }) => ({
			...step,
			...(claimExpiresAt === undefined ? {} : { claimExpiresAt: iso(claimExpiresAt) }),
			...(startedAt === undefined ? {} : { startedAt: iso(startedAt) }),
			...(completedAt === undefined ? {} : { completedAt: iso(completedAt) }),
		})),
		next: nextStep(document, now),
		createdAt: new Date(document.createdAt).toISOString(),
		updatedAt: new Date(document.updatedAt).toISOString(),
		version,
	};
}
