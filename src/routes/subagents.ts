import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { KeyHeaders, SessionParams, WriteHeaders } from "../schemas/common";
import { CreateSubagentBody, Subagent, SubmitResultBody } from "../schemas/subagents";
import { startSubagent, submitSubagentResult } from "../operations/subagents";
import { sessionApi } from "../operations/session-api";
import { bearerSecurity, caller, createRouter, errorResponses, json, writeJson } from "./router";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const subagentRoutes = createRouter();

subagentRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/subagents",
		operationId: "startSubagent",
		tags: ["multi-agent"],
		summary: "Start a subagent: a child session with its task, a bounded context slice, a result contract and a deadline",
		description:
			"The child is seeded with a pinned `subagent_task` event and this session's context window for `contextMaxTokens`, " +
			"item by item, each naming where it came from. It answers with POST /v1/sessions/{childId}/result; when " +
			"`timeoutSeconds` pass first it is closed as timed_out and this session gets a `subagent_timeout` event. " +
			"422 schema_invalid when resultSchema is not a usable JSON Schema.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: KeyHeaders,
			body: { required: true, content: { "application/json": { schema: CreateSubagentBody } } },
		},
		responses: { 201: writeJson(Subagent, "The child, running", { location: "The child session: /v1/sessions/{childId}" }), ...errorResponses(404, 409, 410, 413, 415, 422, 503) },
	}),
	async (c) => {
		const result = await startSubagent(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${value.id}`);
	},
);

subagentRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/result",
		operationId: "submitSubagentResult",
		tags: ["multi-agent"],
		summary: "A subagent's answer: checked against its schema and size limit, recorded in the parent, and the child closed",
		description:
			"422 result_invalid with the failing paths, or result_too_large; 409 session_closed once the child has answered or " +
			"timed out. The parent gets one `subagent_result` event with the child's provenance (`metadata.subagent`). The " +
			"submitter needs only the child: the parent records the outcome of its own child whatever the credential reaches.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: SubmitResultBody } } },
		},
		responses: { 200: writeJson(Subagent, "Completed"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const result = await submitSubagentResult(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

subagentRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/subagent",
		operationId: "getSubagent",
		tags: ["multi-agent"],
		summary: "A child session's contract and outcome: task, status, deadline, result",
		security: bearerSecurity,
		request: { params: SessionParams },
		responses: { 200: json(Subagent, "The subagent"), ...errorResponses(404, 410, 422) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).describeSubagent(caller(c))), 200),
);
