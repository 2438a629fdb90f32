import { requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import { tenantSigningKey } from "../auth/webhook-signing";
import { listTenantApprovals } from "../db/approvals";
import { ApiError, unwrap } from "../errors";
import { sessionApi } from "../operations/session-api";
import { Approval, ApprovalParams, ApprovalSummary, CreateApprovalBody, DecisionBody, ListApprovalsQuery, TenantApprovalsQuery } from "../schemas/approvals";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { PauseBody, ResumeBody, Session } from "../schemas/sessions";
import { writeResponse } from "./respond";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
import { writeOptions } from "./write-options";
import { indexDatabase } from "../projector/shards";

/** Humans in the loop: pause and resume, approvals and their decisions, webhook signing. */
export const approvalRoutes = createRouter();

approvalRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/pause",
		operationId: "pauseSession",
		tags: ["approvals"],
		summary: "Pause the session: agent writes get 423 session_paused until it resumes",
		description: "Reads, approval decisions and resume still work. With `until`, it resumes by itself. Recorded as an event.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: PauseBody } } } },
		responses: { 200: writeJson(Session, "The paused session"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).pause(caller(c), c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/resume",
		operationId: "resumeSession",
		tags: ["approvals"],
		summary: "Resume a paused session",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: ResumeBody } } } },
		responses: { 200: writeJson(Session, "The session"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).resume(caller(c), c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/approvals",
		operationId: "createApproval",
		tags: ["approvals"],
		summary: "Ask a person: open a pending approval",
		description:
			"Optionally blocks a workflow step until decided, and escalates (an `escalation` event, and a signed webhook delivery when a URL is " +
			"given) when still pending at its deadline or after `escalate.afterSeconds`.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: CreateApprovalBody } } } },
		responses: { 201: writeJson(Approval, "The pending approval", {
			location: "The approval: /v1/sessions/{id}/approvals/{approvalId}",
			links: { decideApproval: { operationId: "decideApproval", parameters: { id: "$request.path.id", approvalId: "$response.body#/id" } } },
		}), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const { id } = c.req.valid("param");
		const result = await sessionApi(c.env, c.var.principal, id).createApproval(caller(c), c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${id}/approvals/${value.id}`);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/approvals",
		operationId: "listApprovals",
		tags: ["approvals"],
		summary: "The session's approvals",
		security: bearerSecurity,
		request: { params: SessionParams, query: ListApprovalsQuery },
		responses: { 200: json(z.object({ approvals: z.array(Approval) }), "Approvals by id"), ...errorResponses(404, 410) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listApprovals(caller(c), c.req.valid("query").status)), 200),
);

approvalRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/approvals/{approvalId}",
		operationId: "getApproval",
		tags: ["approvals"],
		summary: "One approval",
		security: bearerSecurity,
		request: { params: ApprovalParams },
		responses: { 200: json(Approval, "The approval"), ...errorResponses(404, 410) },
	}),
	async (c) => {
		const { id, approvalId } = c.req.valid("param");
		return c.json(unwrap(await sessionApi(c.env, c.var.principal, id).getApproval(caller(c), approvalId)), 200);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/approvals/{approvalId}/decision",
		operationId: "decideApproval",
		tags: ["approvals"],
		summary: "Decide an approval, exactly once",
		description: "A retry of the same decision returns it; a different decision on a decided approval is 409 approval_decided. Allowed while paused.",
		security: bearerSecurity,
		request: { params: ApprovalParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: DecisionBody } } } },
		responses: { 200: writeJson(Approval, "The decided approval"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const { id, approvalId } = c.req.valid("param");
		const result = await sessionApi(c.env, c.var.principal, id).decideApproval(caller(c), approvalId, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/approvals",
		operationId: "listTenantApprovals",
		tags: ["approvals"],
		summary: "The tenant's approvals, from the D1 index (eventually consistent)",
		security: bearerSecurity,
		request: { query: TenantApprovalsQuery },
		responses: { 200: json(z.object({ approvals: z.array(ApprovalSummary) }), "Newest first"), ...errorResponses(503) },
	}),
	async (c) => {
		let rows: Awaited<ReturnType<typeof listTenantApprovals>>;
		try {
			rows = await listTenantApprovals(indexDatabase(c.env, c.var.principal.tenant), c.var.principal.tenant, c.req.valid("query"), c.var.principal.scopes.sessions);
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "approval index query failed", error: String(error) }));
			throw new ApiError("dependency_unavailable", "The approval index is unavailable; retry");
		}
		const iso = (time: number | null) => (time === null ? null : new Date(time).toISOString());
		return c.json(
			{
				approvals: rows.map((row) => ({
					sessionId: row.sessionId,
					id: row.id,
					status: row.status,
					title: row.title,
					requestedBy: row.requestedBy,
					deadline: iso(row.deadline),
					createdAt: new Date(row.createdAt).toISOString(),
					decidedAt: iso(row.decidedAt),
				})),
			},
			200,
		);
	},
);

approvalRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/webhook-signing-key",
		operationId: "getWebhookSigningKey",
		tags: ["admin"],
		summary: "The tenant's key for verifying escalation webhooks",
		description: "Deliveries carry `EdgeContext-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" with this key>` and `EdgeContext-Delivery: <id>`.",
		security: bearerSecurity,
		responses: { 200: json(z.object({ tenant: z.string(), key: z.string() }), "The signing key (hex)"), ...errorResponses(503) },
	}),
	async (c) => {
		const secret = c.env.WEBHOOK_SIGNING_SECRET;
		if (!secret) throw new ApiError("dependency_unavailable", "WEBHOOK_SIGNING_SECRET is not configured");
		return c.json({ tenant: c.var.principal.tenant, key: await tenantSigningKey(secret, c.var.principal.tenant) }, 200);
	},
);
