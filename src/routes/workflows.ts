import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { sessionApi } from "../operations/session-api";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody, StepParams, Workflow, WorkflowList, WorkflowParams } from "../schemas/workflows";
import { writeResponse } from "./respond";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
import { writeOptions } from "./write-options";

export const workflowRoutes = createRouter();

workflowRoutes.openapi(
	createRoute({
		method: "put",
		...requires("write"),
		path: "/v1/sessions/{id}/workflows/{name}",
		operationId: "putWorkflow",
		tags: ["workflows"],
		summary: "Create a workflow: ordered steps with an attempt limit",
		description: "The same definition again is a retry and changes nothing; another definition under the same name is 409 workflow_exists.",
		security: bearerSecurity,
		request: { params: WorkflowParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: PutWorkflowBody } } } },
		responses: { 200: writeJson(Workflow, "The workflow"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const { id, name } = c.req.valid("param");
		const result = await sessionApi(c.env, c.var.principal, id).putWorkflow(caller(c), name, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

workflowRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/workflows",
		operationId: "listWorkflows",
		tags: ["workflows"],
		summary: "List the session's workflows",
		security: bearerSecurity,
		request: { params: SessionParams },
		responses: { 200: json(WorkflowList, "Workflows by name"), ...errorResponses(404, 410) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listWorkflows(caller(c))), 200),
);

workflowRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/workflows/{name}",
		operationId: "getWorkflow",
		tags: ["workflows"],
		summary: "A workflow's steps, status and next incomplete step",
		security: bearerSecurity,
		request: { params: WorkflowParams },
		responses: { 200: json(Workflow, "The workflow; `next` is the step to run now"), ...errorResponses(404, 410) },
	}),
	async (c) => {
		const { id, name } = c.req.valid("param");
		return c.json(unwrap(await sessionApi(c.env, c.var.principal, id).getWorkflow(caller(c), name)), 200);
	},
);

const stepActions = [
	{
		action: "start",
		schema: StartStepBody,
		summary: "Claim a step: in progress, attempt + 1",
		description:
			"Refused with 409 while another claimant's claim is unexpired (the same `by` resumes its claim without a new attempt); an expired " +
			"claim is taken over as a new attempt; 422 retry_limit_reached once the attempts are used up.",
	},
	{ action: "complete", schema: CompleteStepBody, summary: "Complete a step with its result", description: undefined },
	{
		action: "fail",
		schema: FailStepBody,
		summary: "Record a failed attempt",
		description:
			"Appends an `error` event with the action, attempt and lesson, and puts the step back to pending; at the attempt limit the step and " +
			"the workflow fail and an escalation opens.",
	},
	{ action: "skip", schema: SkipStepBody, summary: "Skip a step", description: undefined },
] as const;

for (const { action, schema, summary, description } of stepActions) {
	workflowRoutes.openapi(
		createRoute({
			method: "post",
			...requires("write"),
			path: `/v1/sessions/{id}/workflows/{name}/steps/{step}/${action}`,
			operationId: `${action}Step`,
			tags: ["workflows"],
			summary,
			...(description ? { description } : {}),
			security: bearerSecurity,
			request: { params: StepParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema } } } },
			responses: { 200: writeJson(Workflow, "The workflow after the change"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
		}),
		async (c) => {
			const { id, name, step } = c.req.valid("param");
			const api = sessionApi(c.env, c.var.principal, id);
			const options = writeOptions(c.req.valid("header"));
			// The route validated the body with this action's own schema; one handler serves four
			// routes, and Hono cannot carry that pairing through a generic helper's types.
			const body = c.req.valid("json");
			const result =
				action === "start"
					? await api.startStep(caller(c), name, step, body as StartStepBody, options)
					: action === "complete"
						? await api.completeStep(caller(c), name, step, body as CompleteStepBody, options)
						: action === "fail"
							? await api.failStep(caller(c), name, step, body as FailStepBody, options)
							: await api.skipStep(caller(c), name, step, body as SkipStepBody, options);
			return writeResponse(c, result, 200, (value) => value.version);
		},
	);
}
