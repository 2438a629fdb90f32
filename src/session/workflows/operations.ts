/**
 * Workflow memory: definitions and step progress as documents (document.ts) stored in the
 * reserved `_workflows` state namespace, so they are versioned with the session: restore,
 * fork and `context?at=V` cover them. Every transition is one kernel write.
 */
import { fail, ok, type Result } from "../../errors";
import type { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody, Workflow } from "../../schemas/workflows";
import { commitEvents, prepareEvents } from "../events/operations";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { bumpVersion, indexRow, type SessionRow } from "../sessions/session-row";
import { documentBytes, listDocuments, MAX_DOCUMENT_BYTES, readDocument, writeDocument } from "../state/system";
import { scheduleEscalation } from "../escalations/escalations";
import { completeStep, createDocument, definitionOf, failStep, skipStep, startStep, toView, WORKFLOWS_NS, type WorkflowDocument } from "./document";

function load(sql: SqlStorage, name: string): Result<{ document: WorkflowDocument; version: number }> {
	const stored = readDocument<WorkflowDocument>(sql, WORKFLOWS_NS, name);
	if (!stored) return fail("not_found", `No workflow ${name}`, { workflow: name });
	return ok({ document: stored.value, version: stored.version });
}

/** Stores the document as the write's change: a new session version, projected like any write. */
function store(sql: SqlStorage, row: SessionRow, document: WorkflowDocument, now: number, bumped?: SessionRow): Result<Workflow> {
	if (documentBytes(document) > MAX_DOCUMENT_BYTES) {
		return fail("payload_too_large", `Workflow ${document.name} would exceed ${MAX_DOCUMENT_BYTES} bytes; keep large results in state or events`, { maxBytes: MAX_DOCUMENT_BYTES });
	}
	const updated = bumped ?? bumpVersion(sql, {}, now);
	if (!bumped) project(sql, { kind: "write", session: indexRow(updated) }, now);
	writeDocument(sql, WORKFLOWS_NS, document.name, document, updated.version, now);
	return ok(toView(document, updated.version, now));
}

/** Creates a workflow; the same definition again is a retry and changes nothing, another one is 409. */
export function putWorkflow(session: SessionContext, name: string, body: PutWorkflowBody, options: WriteOptions): Promise<WriteResult<Workflow>> {
	return session.kernel.write({
		operation: "put_workflow",
		input: { name, body },
		options,
		apply: ({ row, now }) => {
			const existing = readDocument<WorkflowDocument>(session.sql, WORKFLOWS_NS, name);
			if (existing) {
				if (existing.value.definition === definitionOf(body)) return ok(toView(existing.value, existing.version, now));
				return fail("workflow_exists", `Workflow ${name} exists with another definition`, { workflow: name });
			}
			return store(session.sql, row as SessionRow, createDocument(name, body, now), now);
		},
	});
}

export function getWorkflow(session: SessionContext, name: string): Promise<Result<Workflow>> {
	return session.kernel.read(() => {
		const loaded = load(session.sql, name);
		return loaded.ok ? ok(toView(loaded.value.document, loaded.value.version, Date.now())) : loaded;
	});
}

export function listWorkflows(session: SessionContext): Promise<Result<{ workflows: Workflow[] }>> {
	return session.kernel.read(() => {
		const now = Date.now();
		return ok({ workflows: listDocuments<WorkflowDocument>(session.sql, WORKFLOWS_NS).map((stored) => toView(stored.value, stored.version, now)) });
	});
}

/** Runs one transition of a workflow as a write. */
function transition(
	session: SessionContext,
	operation: string,
	name: string,
	input: unknown,
	options: WriteOptions,
	change: (document: WorkflowDocument, now: number) => Result<WorkflowDocument>,
): Promise<WriteResult<Workflow>> {
	return session.kernel.write({
		operation,
		input: { name, ...(input as object) },
		options,
		apply: ({ row, now }) => {
			const loaded = load(session.sql, name);
			if (!loaded.ok) return loaded;
			const changed = change(loaded.value.document, now);
			return changed.ok ? store(session.sql, row as SessionRow, changed.value, now) : changed;
		},
	});
}

/**
 * Claims a step (see document.ts startStep for claims, takeovers and the attempt limit). The
 * last allowed attempt also arms the workflow's escalation for when its claim runs out: if
 * its claimant dies, nobody may take the step over, and a person must hear of it.
 */
export function startWorkflowStep(session: SessionContext, name: string, stepId: string, body: StartStepBody, options: WriteOptions): Promise<WriteResult<Workflow>> {
	return transition(session, "start_step", name, { stepId, body }, options, (document, now) => {
		const started = startStep(document, stepId, body.by, body.claimSeconds, now);
		if (!started.ok) return started;
		if (started.value.attempt >= document.maxAttempts) {
			const step = started.value.document.steps.find((candidate) => candidate.id === stepId);
			scheduleEscalation(session.sql, { kind: "workflow", workflow: name, step: stepId }, (step?.claimExpiresAt ?? now) + 1000);
		}
		return ok(started.value.document);
	});
}

export function completeWorkflowStep(session: SessionContext, name: string, stepId: string, body: CompleteStepBody, options: WriteOptions): Promise<WriteResult<Workflow>> {
	return transition(session, "complete_step", name, { stepId, body }, options, (document, now) => completeStep(document, stepId, body.result, body.by, now));
}

export function skipWorkflowStep(session: SessionContext, name: string, stepId: string, body: SkipStepBody, options: WriteOptions): Promise<WriteResult<Workflow>> {
	return transition(session, "skip_step", name, { stepId, body }, options, (document, now) => skipStep(document, stepId, body.reason, now));
}

/**
 * Records a failed attempt: an `error` event the next context window shows ("tried X
 * (attempt n): Y → lesson: Z"), and the step back to pending, or at the attempt limit the step
 * and workflow failed and an escalation opened. The event's text is prepared before the
 * commit from the workflow as it stands; if the workflow changes meanwhile, it is re-planned.
 */
export function failWorkflowStep(session: SessionContext, name: string, stepId: string, body: FailStepBody, options: WriteOptions): Promise<WriteResult<Workflow>> {
	return session.kernel.write({
		operation: "fail_step",
		input: { name, stepId, body },
		options,
		basis: () => readDocument(session.sql, WORKFLOWS_NS, name)?.version ?? 0,
		prepare: async ({ row, uploads }) => {
			const loaded = load(session.sql, name);
			if (!loaded.ok) return loaded;
			const step = loaded.value.document.steps.find((candidate) => candidate.id === stepId);
			if (!step) return fail("not_found", `Workflow ${name} has no step ${stepId}`, { workflow: name, step: stepId });
			const text = `tried ${step.action} (attempt ${step.attempts}): ${body.error.message}${body.lesson ? ` → lesson: ${body.lesson}` : ""}`;
			return prepareEvents(session, row as SessionRow, [
				{
					type: "error",
					content: text,
					metadata: { workflow: name, step: stepId, action: step.action, attempt: step.attempts, ...(body.error.kind ? { kind: body.error.kind } : {}), ...(body.lesson ? { lesson: body.lesson } : {}) },
				},
			], uploads);
		},
		apply: ({ plan, row, now }) => {
			const loaded = load(session.sql, name);
			if (!loaded.ok) return loaded;
			const failed = failStep(loaded.value.document, stepId, body.error, body.lesson, body.by, now);
			if (!failed.ok) return failed;
			const { updated } = commitEvents(session.sql, row as SessionRow, plan, now);
			if (failed.value.exhausted) scheduleEscalation(session.sql, { kind: "workflow", workflow: name, step: stepId }, now);
			return store(session.sql, updated, failed.value.document, now, updated);
		},
	});
}
