/**
 * The "work in progress" block of a context window: open workflows with their steps and next
 * step, pending approvals, and the latest failed attempts as "tried <action> (attempt n):
 * <error> → lesson: <lesson>" lines, so an agent's next attempt never runs with the same
 * context as the one that failed. Built from the workflow and approval documents in effect at
 * the window's version, so `at=V` rebuilds it as it was.
 *
 * Token counts: the read path never loads the tokenizer, so each line is counted as a
 * conservative estimate (UTF-8 bytes / 3, above what o200k and cl100k produce for text).
 */
import type { ContextItem } from "../../schemas/context";
import { type ApprovalDocument, approvalStatus, APPROVALS_NS } from "../approvals/document";
import { type Intervals, visibilitySql } from "../history/visibility";
import { documentsAt, listDocuments } from "../state/system";
import { nextStep, WORKFLOWS_NS, type WorkflowDocument, workflowStatus } from "../workflows/document";
import { notRetractedSql } from "../events/retractions";

const RECENT_FAILURES = 5;
const encoder = new TextEncoder();

function estimateTokens(text: string): number {
	return Math.ceil(encoder.encode(text).length / 3);
}

/**
 * A workflow's lines. Claims are judged as of the workflow's last change, not the clock, so
 * the block a version shows is the same whenever it is rebuilt (`at=V`).
 */
function workflowLines(document: WorkflowDocument): string[] {
	const status = workflowStatus(document, document.updatedAt);
	if (status === "completed" || status === "failed") return [];
	const next = nextStep(document, document.updatedAt);
	const steps = document.steps
		.map((step) => `${step.id}: ${step.status}${step.blockedBy ? ` (waiting for approval ${step.blockedBy})` : ""}${step.attempts > 0 ? ` (${step.attempts}/${document.maxAttempts} attempts)` : ""}`)
		.join(" · ");
	return [`workflow ${document.name} (${status})${next ? `: next → ${next.id} "${next.action}" (attempt ${next.attempt})` : ""}`, `  ${steps}`];
}

function approvalLine(document: ApprovalDocument): string {
	const deadline = document.deadline === null ? "" : `, deadline ${new Date(document.deadline).toISOString()}`;
	return `approval ${document.id} pending since ${new Date(document.createdAt).toISOString()}: ${document.title} (requested by ${document.requestedBy}${deadline})`;
}

/** The latest failed attempts of the workflows still open (those of finished ones are history). */
function recentFailures(sql: SqlStorage, intervals: Intervals, openWorkflows: string[]): string[] {
	if (openWorkflows.length === 0) return [];
	const visible = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return sql
		.exec<{ content: string | null }>(
			`SELECT content FROM events WHERE type = 'error' AND json_extract(metadata, '$.workflow') IN (${openWorkflows.map(() => "?").join(", ")})
			   AND ${visible.clause} AND ${notRetracted.clause}
			 ORDER BY seq DESC LIMIT ?`,
			...openWorkflows,
			...visible.params,
			...notRetracted.params,
			RECENT_FAILURES,
		)
		.toArray()
		.flatMap((row) => (row.content === null ? [] : [`  - ${JSON.parse(row.content) as string}`]))
		.reverse();
}

/**
 * The block as lines, most important first (workflows, approvals, failures); null when there
 * is no open work. `current` reads the live documents, else those in effect at `intervals`.
 */
export function workStatusLines(sql: SqlStorage, intervals: Intervals, current: boolean): string[] | null {
	const visible = visibilitySql(intervals);
	const workflows = current ? listDocuments<WorkflowDocument>(sql, WORKFLOWS_NS) : documentsAt<WorkflowDocument>(sql, WORKFLOWS_NS, visible);
	const approvals = current ? listDocuments<ApprovalDocument>(sql, APPROVALS_NS) : documentsAt<ApprovalDocument>(sql, APPROVALS_NS, visible);
	const lines = [
		...workflows.flatMap((stored) => workflowLines(stored.value)),
		...approvals.filter((stored) => approvalStatus(stored.value) === "pending").map((stored) => approvalLine(stored.value)),
	];
	const open = workflows.filter((stored) => workflowLines(stored.value).length > 0).map((stored) => stored.value.name);
	const failures = recentFailures(sql, intervals, open);
	if (failures.length > 0) lines.push("recent failures:", ...failures);
	return lines.length > 0 ? ["## Work in progress", ...lines] : null;
}

/** The block cut to `maxTokens` (whole lines, in order); null when nothing fits or nothing is open. */
export function workStatusItem(lines: string[] | null, maxTokens: number): ContextItem | null {
	if (!lines) return null;
	const kept: string[] = [];
	let tokens = 0;
	for (const line of lines) {
		const cost = estimateTokens(line) + (kept.length > 0 ? 1 : 0);
		if (tokens + cost > maxTokens) break;
		kept.push(line);
		tokens += cost;
	}
	return kept.length > 1 ? { kind: "work_status", content: kept.join("\n"), tokens } : null;
}
