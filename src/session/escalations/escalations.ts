/**
 * Escalation: when a pending approval passes its deadline (or escalation delay), or a workflow
 * fails at its attempt limit, the `escalate` timer for that subject appends one `escalation`
 * event holding a self-contained package (what is asked, by whom, since when, the payload, the
 * failing step and its errors, a bounded context window) and, with a webhook, schedules its
 * signed delivery. The escalations row is keyed by subject and written in the same
 * transaction as the event: however often the timer runs, a subject escalates once.
 *
 * Delivery (`deliver_webhook`, keyed by subject) POSTs the stored package, with the same
 * delivery id on every attempt for receiver-side deduplication, until a 2xx; failures back
 * off and park as a dead letter the session reports.
 */
import * as metrics from "../metrics/metrics";
import { signatureHeader, tenantSigningKey, webhookAllowed } from "../../auth/webhook-signing";
import { ok } from "../../errors";
import type { ContextWindow } from "../../schemas/context";
import { type ApprovalDocument, approvalStatus, APPROVALS_NS, toApprovalView } from "../approvals/document";
import { buildWindow } from "../context/window";
import { commitEvents, prepareEvents } from "../events/operations";
import type { PreparedEvent } from "../events/log";
import type { TimerHandler } from "../kernel/capability";
import * as timers from "../kernel/timers";
import type { SessionRow } from "../sessions/session-row";
import { readDocument } from "../state/system";
import { isStalled, toView, WORKFLOWS_NS, type WorkflowDocument } from "../workflows/document";

/**
 * The package becomes an event, which every reader of the session sees whatever namespaces
 * it may read: its window carries events and work status, not state.
 */
const NO_STATE: readonly string[] = [];

export const ESCALATE_TIMER = "escalate";
export const DELIVER_TIMER = "deliver_webhook";
/** The context window an escalation carries, in tokens. */
const ESCALATION_CONTEXT_BUDGET = 2000;

export type EscalationSubject = { kind: "approval"; id: string } | { kind: "workflow"; workflow: string; step: string };

/** The kind and name a subject key ("approval:<id>", "workflow:<name>") stands for. */
function parseSubjectKey(key: string): { kind: string; name: string } {
	const colon = key.indexOf(":");
	return { kind: key.slice(0, colon), name: key.slice(colon + 1) };
}

function subjectKey(subject: EscalationSubject): string {
	return subject.kind === "approval" ? `approval:${subject.id}` : `workflow:${subject.workflow}`;
}

/** Asks for the subject's escalation at `dueAt`; call inside the write that makes it due. */
export function scheduleEscalation(sql: SqlStorage, subject: EscalationSubject, dueAt: number): void {
	timers.schedule(sql, ESCALATE_TIMER, subjectKey(subject), dueAt);
}

export function cancelEscalation(sql: SqlStorage, subject: EscalationSubject): void {
	timers.cancel(sql, ESCALATE_TIMER, subjectKey(subject));
}

export function isEscalated(sql: SqlStorage, subject: EscalationSubject): boolean {
	return sql.exec("SELECT 1 FROM escalations WHERE subject = ?", subjectKey(subject)).toArray().length > 0;
}

interface Due {
	reason: "deadline_passed" | "workflow_failed";
	title: string;
	webhook: string | null;
	detail: Record<string, unknown>;
}

/** What makes the subject due now, or when it will be, or null if it no longer needs anyone. */
function whatIsDue(sql: SqlStorage, key: string, now: number): Due | { notBefore: number } | null {
	const { kind, name } = parseSubjectKey(key);
	if (kind === "approval") {
		const stored = readDocument<ApprovalDocument>(sql, APPROVALS_NS, name);
		if (!stored || approvalStatus(stored.value) !== "pending" || stored.value.escalateAt === null) return null;
		if (stored.value.escalateAt > now) return { notBefore: stored.value.escalateAt };
		const approval = toApprovalView(stored.value, stored.version, false);
		return {
			reason: "deadline_passed",
			title: `Approval waiting since ${approval.createdAt}: ${approval.title}`,
			webhook: stored.value.webhook,
			detail: { approval },
		};
	}
	const stored = readDocument<WorkflowDocument>(sql, WORKFLOWS_NS, name);
	if (!stored) return null;
	const workflow = toView(stored.value, stored.version, now);
	const stuck = stored.value.steps.find((step) => step.status === "failed" || isStalled(stored.value, step, now));
	const failed = stuck && workflow.steps.find((step) => step.id === stuck.id);
	if (!failed) {
		// The last attempt is still running: look again when its claim runs out.
		const running = stored.value.steps.find((step) => step.status === "in_progress" && step.attempts >= stored.value.maxAttempts);
		return running?.claimExpiresAt && running.claimExpiresAt > now ? { notBefore: running.claimExpiresAt + 1000 } : null;
	}
	const errors = sql
		.exec<{ seq: number; content: string | null }>(
			"SELECT seq, content FROM events WHERE type = 'error' AND json_extract(metadata, '$.workflow') = ? ORDER BY seq DESC LIMIT 20",
			name,
		)
		.toArray()
		.map((row) => ({ seq: row.seq, text: row.content === null ? null : (JSON.parse(row.content) as unknown) }));
	return {
		reason: "workflow_failed",
		title: `Workflow ${name} failed at step ${failed.id} after ${failed.attempts} attempts`,
		webhook: null,
		detail: { workflow: { name, failedStep: failed, errors } },
	};
}

/** The version of the document an escalation is about: the plan is re-made only if it changes. */
function subjectVersion(sql: SqlStorage, key: string): number | null {
	const { kind, name } = parseSubjectKey(key);
	return readDocument(sql, kind === "approval" ? APPROVALS_NS : WORKFLOWS_NS, name)?.version ?? null;
}

interface EscalationPlan {
	deliveryId: string;
	due: Due;
	packageText: string;
	events: PreparedEvent[];
}

/** The escalate timer: see the module header. */
export const escalateWhenDue: TimerHandler = async (session, run) => {
	const subjectOf = run.key;
	const escalated = () => session.sql.exec("SELECT 1 FROM escalations WHERE subject = ?", subjectOf).toArray().length > 0;
	const result = await session.kernel.write<EscalationPlan | { notBefore: number } | null, null>({
		operation: "escalate",
		timer: run,
		fenced: false,
		whilePaused: true,
		whileClosed: true,
		basis: () => [escalated(), subjectVersion(session.sql, subjectOf)],
		prepare: async ({ row, uploads }) => {
			if (escalated()) return null;
			const now = Date.now();
			const due = whatIsDue(session.sql, subjectOf, now);
			if (due === null || "notBefore" in due) return due;
			const current = row as SessionRow;
			// The package goes out even when its window cannot be built (R2 down): a person must hear of it.
			const window = await buildWindow(session.sql, session.dependencies.blobs, { budget: ESCALATION_CONTEXT_BUDGET }, current.version, NO_STATE).catch(() => null);
			const deliveryId = crypto.randomUUID();
			const escalationPackage = {
				type: "escalation",
				deliveryId,
				reason: due.reason,
				title: due.title,
				session: { id: current.id, agent: current.agent, subject: current.subject, version: current.version },
				escalatedAt: new Date(now).toISOString(),
				...due.detail,
				context: window?.ok ? (window.value as ContextWindow) : null,
			};
			const packageText = JSON.stringify(escalationPackage);
			const events = await prepareEvents(session, current, [
				{ type: "escalation", content: escalationPackage, metadata: { subject: subjectOf, deliveryId, reason: due.reason } },
			], uploads);
			return { deliveryId, due, packageText, events };
		},
		apply: ({ plan, row, now }) => {
			if (plan === null || escalated()) return ok(null);
			if ("notBefore" in plan) {
				timers.schedule(session.sql, ESCALATE_TIMER, subjectOf, plan.notBefore);
				return ok(null);
			}
			metrics.count(session.sql, "escalations", now);
			session.sql.exec(
				"INSERT INTO escalations (subject, delivery_id, reason, package, webhook, created_at) VALUES (?, ?, ?, ?, ?, ?)",
				subjectOf,
				plan.deliveryId,
				plan.due.reason,
				plan.packageText,
				plan.due.webhook,
				now,
			);
			commitEvents(session.sql, row as SessionRow, plan.events, now);
			if (plan.due.webhook) timers.schedule(session.sql, DELIVER_TIMER, subjectOf, now);
			return ok(null);
		},
	});
	if (!result.ok && result.code !== "session_deleted" && result.code !== "session_not_found") throw new Error(`${result.code}: ${result.message}`);
};

/** The delivery timer: POSTs the stored package, signed, until the receiver answers 2xx. */
export const deliverWebhook: TimerHandler = async (session, run) => {
	const row = session.sql
		.exec<{ delivery_id: string; package: string; webhook: string | null; delivered_at: number | null }>(
			"SELECT delivery_id, package, webhook, delivered_at FROM escalations WHERE subject = ?",
			run.key,
		)
		.toArray()[0];
	const owner = session.kernel.session();
	if (!row || row.delivered_at !== null || row.webhook === null || !owner || owner.status !== "active") return;
	if (!webhookAllowed(row.webhook, session.config.allowLocalWebhooks)) throw new Error(`webhook URL not allowed: ${row.webhook}`);
	const secret = session.config.webhookSigningSecret;
	if (!secret) throw new Error("WEBHOOK_SIGNING_SECRET is not set: deliveries cannot be signed");
	const key = await tenantSigningKey(secret, owner.tenant);
	const response = await fetch(row.webhook, {
		method: "POST",
		headers: {
			"content-type": "application/json",
			"edgecontext-delivery": row.delivery_id,
			"edgecontext-signature": await signatureHeader(key, row.package, Math.floor(Date.now() / 1000)),
		},
		body: row.package,
		// A receiver that hangs or redirects is a failed attempt, retried with backoff.
		redirect: "manual",
		signal: AbortSignal.timeout(10_000),
	});
	await response.body?.cancel();
	if (!response.ok) throw new Error(`webhook answered ${response.status}`);
	session.kernel.transaction(() => {
		session.sql.exec("UPDATE escalations SET delivered_at = ?, last_status = ? WHERE subject = ?", Date.now(), response.status, run.key);
		timers.complete(session.sql, run);
	});
};
