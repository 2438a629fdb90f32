import { z } from "@hono/zod-openapi";
import { JsonValue, SessionId, StateName, Timestamp, json } from "./common";
import { StepId, WorkflowName } from "./workflows";

/**
 * A webhook target: https, or http to localhost when the deployment allows it for development
 * (ALLOW_LOCAL_WEBHOOKS). Checked again where it is used, with the deployment's setting.
 */
export const WebhookUrl = z
	.string()
	.max(2000)
	.url()
	.refine((value) => /^https?:\/\//.test(value), "an http(s) URL")
	.openapi({ description: "https URL (http only to localhost, in development)" });

export const CreateApprovalBody = z
	.object({
		id: StateName.optional().openapi({ description: "Client-chosen id; generated when absent" }),
		title: z.string().min(1).max(500),
		summary: z.string().min(1).max(8000).openapi({ description: "Everything a person needs to decide, in a few lines" }),
		payload: JsonValue.optional(),
		requestedBy: z.string().min(1).max(200),
		deadline: z.iso.datetime({ offset: true }).optional().openapi({ description: "Escalated when still pending at this time" }),
		escalate: z
			.object({ afterSeconds: z.number().int().min(1).max(365 * 86_400), webhook: WebhookUrl.optional() })
			.strict()
			.optional(),
		blocksWorkflow: z.object({ name: WorkflowName, step: StepId }).strict().optional(),
	})
	.strict()
	.openapi("CreateApproval");
export type CreateApprovalBody = z.infer<typeof CreateApprovalBody>;

export const ApprovalStatus = z.enum(["pending", "approved", "rejected"]);

export const Approval = z
	.object({
		id: z.string(),
		status: ApprovalStatus,
		title: z.string(),
		summary: z.string(),
		payload: json().optional(),
		requestedBy: z.string(),
		deadline: Timestamp.nullable(),
		escalateAt: Timestamp.nullable(),
		webhook: z.string().nullable(),
		blocksWorkflow: z.object({ name: z.string(), step: z.string() }).nullable(),
		decision: z.object({ decision: z.enum(["approve", "reject"]), by: z.string(), comment: z.string().optional(), at: Timestamp }).nullable(),
		escalated: z.boolean(),
		createdAt: Timestamp,
		version: z.number().int().max(Number.MAX_SAFE_INTEGER),
	})
	.openapi("Approval");
export type Approval = z.infer<typeof Approval>;

export const DecisionBody = z
	.object({ decision: z.enum(["approve", "reject"]), by: z.string().min(1).max(200), comment: z.string().max(4000).optional() })
	.strict()
	.openapi("ApprovalDecision");
export type DecisionBody = z.infer<typeof DecisionBody>;

export const ApprovalParams = z.object({
	id: SessionId.openapi({ param: { name: "id", in: "path" } }),
	approvalId: StateName.openapi({ param: { name: "approvalId", in: "path" } }),
});

export const ListApprovalsQuery = z.object({
	status: ApprovalStatus.optional(),
});

export const TenantApprovalsQuery = z.object({
	status: ApprovalStatus.optional(),
	limit: z.coerce.number().int().min(1).max(500).default(100).openapi({ type: "integer" }),
});

export const ApprovalSummary = z
	.object({
		sessionId: z.string(),
		id: z.string(),
		status: ApprovalStatus,
		title: z.string(),
		requestedBy: z.string(),
		deadline: Timestamp.nullable(),
		createdAt: Timestamp,
		decidedAt: Timestamp.nullable(),
	})
	.openapi("ApprovalSummary");
