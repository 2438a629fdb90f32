/** An approval as stored in the reserved `_approvals` state namespace, and its API view. */
import type { Approval } from "../../schemas/approvals";
import type { Json } from "../../schemas/common";

export const APPROVALS_NS = "_approvals";

export interface ApprovalDocument {
	id: string;
	title: string;
	summary: string;
	payload?: Json;
	requestedBy: string;
	deadline: number | null;
	/** When it escalates if still pending: the deadline or the escalation delay, whichever is first. */
	escalateAt: number | null;
	webhook: string | null;
	blocksWorkflow: { name: string; step: string } | null;
	decision: { decision: "approve" | "reject"; by: string; comment?: string; at: number } | null;
	/** The request as made, to tell a retried create from a different one. */
	definition: string;
	createdAt: number;
}

export function approvalStatus(document: ApprovalDocument): Approval["status"] {
	if (!document.decision) return "pending";
	return document.decision.decision === "approve" ? "approved" : "rejected";
}

export function toApprovalView(document: ApprovalDocument, version: number, escalated: boolean): Approval {
	const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());
	return {
		id: document.id,
		status: approvalStatus(document),
		title: document.title,
		summary: document.summary,
		...(document.payload === undefined ? {} : { payload: document.payload }),
		requestedBy: document.requestedBy,
		deadline: iso(document.deadline),
		escalateAt: iso(document.escalateAt),
		webhook: document.webhook,
		blocksWorkflow: document.blocksWorkflow,
		decision: document.decision ? { ...document.decision, at: new Date(document.decision.at).toISOString() } : null,
		escalated,
		createdAt: new Date(document.createdAt).toISOString(),
		version,
	};
}
