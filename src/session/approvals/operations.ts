/**
 * Approvals: an agent asks a person and waits. An approval is a document in the reserved
 * `_approvals` state namespace (versioned with the session: a restore to before a decision
 * brings it back to pending), projected to D1 for the tenant-wide list, and may block a
 * workflow step until it is decided. Deciding is allowed while the session is paused.
 */
import { webhookAllowed } from "../../auth/webhook-signing";
import { fail, ok, type Result } from "../../errors";
import type { Approval, CreateApprovalBody, DecisionBody } from "../../schemas/approvals";
import { cancelEscalation, isEscalated, scheduleEscalation } from "../escalations/escalations";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { bumpVersion, indexRow, type SessionRow } from "../sessions/session-row";
import { documentBytes, listDocuments, MAX_DOCUMENT_BYTES, readDocument, writeDocument } from "../state/system";
import { blockStep, unblockStep, WORKFLOWS_NS, type WorkflowDocument } from "../workflows/document";
import { type ApprovalDocument, approvalStatus, APPROVALS_NS, toApprovalView } from "./document";

function view(sql: SqlStorage, document: ApprovalDocument, version: number): Approval {
	return toApprovalView(document, version, isEscalated(sql, { kind: "approval", id: document.id }));
}

function approvalIndexRow(document: ApprovalDocument, version: number) {
	return {
		id: document.id,
		status: approvalStatus(document),
		title: document.title,
		requestedBy: document.requestedBy,
		deadline: document.deadline,
		createdAt: document.createdAt,
		decidedAt: document.decision?.at ?? null,
		version,
	};
}

/** Writes the approval (and the workflow it blocks or unblocks) as one new session version. */
function store(sql: SqlStorage, document: ApprovalDocument, workflow: WorkflowDocument | null, now: number): Approval {
	const updated = bumpVersion(sql, {}, now);
	writeDocument(sql, APPROVALS_NS, document.id, document, updated.version, now);
	if (workflow) writeDocument(sql, WORKFLOWS_NS, workflow.name, workflow, updated.version, now);
	project(
		sql,
		{
			kind: "write",
			session: indexRow(updated),
			approval: approvalIndexRow(document, updated.version),
		},
		now,
	);
	return view(sql, document, updated.version);
}

/** Opens a pending approval; the same request again is a retry, another one with its id 409. */
export function createApproval(session: SessionContext, body: CreateApprovalBody, options: WriteOptions): Promise<WriteResult<Approval>> {
	const id = body.id ?? `apr_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
	const { id: _id, ...request } = body;
	const definition = JSON.stringify(request);
	return session.kernel.write({
		operation: "create_approval",
		input: body,
		options,
		apply: ({ now }) => {
			const existing = readDocument<ApprovalDocument>(session.sql, APPROVALS_NS, id);
			if (existing) {
				if (existing.value.definition === definition) return ok(view(session.sql, existing.value, existing.version));
				return fail("approval_exists", `Approval ${id} exists with another request`, { id });
			}
			const webhook = body.escalate?.webhook ?? null;
			if (webhook !== null && !webhookAllowed(webhook, session.config.allowLocalWebhooks)) {
				return fail("validation_failed", "The webhook must be an https URL", { issues: [{ path: "escalate.webhook", message: "https only (http to localhost in development)" }] });
			}
			const deadline = body.deadline === undefined ? null : Date.parse(body.deadline);
			const afterDelay = body.escalate ? now + body.escalate.afterSeconds * 1000 : null;
			const escalateAt = [deadline, afterDelay].filter((time): time is number => time !== null).reduce<number | null>((first, time) => (first === null ? time : Math.min(first, time)), null);
			const document: ApprovalDocument = {
				id,
				title: body.title,
				summary: body.summary,
				...(body.payload === undefined ? {} : { payload: body.payload }),
				requestedBy: body.requestedBy,
				deadline,
				escalateAt,
				webhook,
				blocksWorkflow: body.blocksWorkflow ?? null,
				decision: null,
				definition,
				createdAt: now,
			};
			if (documentBytes(document) > MAX_DOCUMENT_BYTES) return fail("payload_too_large", `An approval is at most ${MAX_DOCUMENT_BYTES} bytes`, { maxBytes: MAX_DOCUMENT_BYTES });
			let workflow: WorkflowDocument | null = null;
			if (body.blocksWorkflow) {
				const stored = readDocument<WorkflowDocument>(session.sql, WORKFLOWS_NS, body.blocksWorkflow.name);
				if (!stored) return fail("not_found", `No workflow ${body.blocksWorkflow.name}`, { workflow: body.blocksWorkflow.name });
				const blocked = blockStep(stored.value, body.blocksWorkflow.step, id, now);
				if (!blocked.ok) return blocked;
				workflow = blocked.value;
			}
			if (escalateAt !== null) scheduleEscalation(session.sql, { kind: "approval", id }, escalateAt);
			return ok(store(session.sql, document, workflow, now));
		},
	});
}

/**
 * Decides a pending approval, exactly once: the same decision again is a retry; a different
 * one is 409 approval_decided. Approve lets a blocked step run; reject fails it.
 */
export function decideApproval(session: SessionContext, approvalId: string, body: DecisionBody, options: WriteOptions): Promise<WriteResult<Approval>> {
	return session.kernel.write({
		operation: "decide_approval",
		input: { approvalId, body },
		options,
		// The person deciding does not hold the agent's writer lease, and may decide while paused.
		fenced: false,
		whilePaused: true,
		apply: ({ now }) => {
			const stored = readDocument<ApprovalDocument>(session.sql, APPROVALS_NS, approvalId);
			if (!stored) return fail("not_found", `No approval ${approvalId}`, { approval: approvalId });
			const decided = stored.value.decision;
			if (decided) {
				if (decided.decision === body.decision && decided.by === body.by) return ok(view(session.sql, stored.value, stored.version));
				return fail("approval_decided", `Approval ${approvalId} was already decided (${decided.decision} by ${decided.by})`, {
					decision: decided.decision,
					by: decided.by,
					at: new Date(decided.at).toISOString(),
				});
			}
			const document: ApprovalDocument = { ...stored.value, decision: { decision: body.decision, by: body.by, ...(body.comment ? { comment: body.comment } : {}), at: now } };
			let workflow: WorkflowDocument | null = null;
			if (document.blocksWorkflow) {
				const blocked = readDocument<WorkflowDocument>(session.sql, WORKFLOWS_NS, document.blocksWorkflow.name);
				if (blocked) workflow = unblockStep(blocked.value, document.blocksWorkflow.step, approvalId, body.decision === "approve", now);
			}
			cancelEscalation(session.sql, { kind: "approval", id: approvalId });
			return ok(store(session.sql, document, workflow, now));
		},
	});
}

export function getApproval(session: SessionContext, approvalId: string): Promise<Result<Approval>> {
	return session.kernel.read(() => {
		const stored = readDocument<ApprovalDocument>(session.sql, APPROVALS_NS, approvalId);
		return stored ? ok(view(session.sql, stored.value, stored.version)) : fail("not_found", `No approval ${approvalId}`, { approval: approvalId });
	});
}

export function listApprovals(session: SessionContext, status: Approval["status"] | undefined): Promise<Result<{ approvals: Approval[] }>> {
	return session.kernel.read(() => ({
		ok: true,
		value: {
			approvals: listDocuments<ApprovalDocument>(session.sql, APPROVALS_NS)
				.map((stored) => view(session.sql, stored.value, stored.version))
				.filter((approval) => status === undefined || approval.status === status),
		},
	}));
}


/**
 * After a change of which documents are in effect (restore, fork, import): every approval's
 * D1 row is projected again (and those no longer in effect removed), and pending approvals
 * whose escalation has not happened get their timer back. Call inside the write's transaction.
 */
export function rederiveApprovals(sql: SqlStorage, row: SessionRow, now: number, removed: string[] = []): void {
	const current = listDocuments<ApprovalDocument>(sql, APPROVALS_NS);
	for (const stored of current) {
		const approval = stored.value;
		if (approvalStatus(approval) === "pending" && approval.escalateAt !== null && !isEscalated(sql, { kind: "approval", id: approval.id })) {
			scheduleEscalation(sql, { kind: "approval", id: approval.id }, approval.escalateAt);
		}
	}
	const present = new Set(current.map((stored) => stored.key));
	const gone = removed.filter((id) => !present.has(id));
	if (current.length === 0 && gone.length === 0) return;
	for (const stored of current) project(sql, { kind: "write", session: indexRow(row), approval: approvalIndexRow(stored.value, stored.version) }, now);
	if (gone.length > 0) project(sql, { kind: "write", session: indexRow(row), removedApprovals: gone }, now);
}

/** The ids of the approvals in effect now (to tell, after a restore, which ones it removed). */
export function approvalIds(sql: SqlStorage): string[] {
	return listDocuments<ApprovalDocument>(sql, APPROVALS_NS).map((stored) => stored.key);
}
