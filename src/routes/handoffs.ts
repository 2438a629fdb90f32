import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { KeyHeaders, SessionParams } from "../schemas/common";
import { HandoffBody, HandoffResult, Lineage } from "../schemas/handoffs";
import { handOff } from "../operations/handoffs";
import { lineage } from "../operations/lineage";
import { bearerSecurity, createRouter, errorResponses, json, writeJson } from "./router";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const handoffRoutes = createRouter();

handoffRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/handoffs",
		operationId: "handOff",
		tags: ["multi-agent"],
		summary: "Hand the work to another agent: a bounded, structured package, not the transcript",
		description:
			"Builds `{from, task, summary, decisions, openItems, state, refs}` from this session within `include.maxTokens` " +
			"(422 budget_too_small when the task and summary alone do not fit; other parts are cut, and `omitted` says how much). " +
			"The target (`to.sessionId`, created when it does not exist, or a new session) gets a pinned `handoff_in` event holding " +
			"the package; this session records `handoff_out`; both are linked (see lineage). With an Idempotency-Key a retry " +
			"creates one target and one event on each side.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: KeyHeaders,
			body: { required: true, content: { "application/json": { schema: HandoffBody } } },
		},
		responses: { 201: writeJson(HandoffResult, "Handed off", { location: "The target session: /v1/sessions/{to.sessionId}" }), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const result = await handOff(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.from.version, (value) => `/v1/sessions/${value.to.sessionId}`);
	},
);

handoffRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/lineage",
		operationId: "getLineage",
		tags: ["multi-agent"],
		summary: "The sessions linked to this one: fork parents and forks, handoffs, subagents",
		description:
			"Walks links in both directions from this session (up to 50 sessions) so a chain A→B→C is traceable from any of its " +
			"members. Sessions the credential may not reach are left out. Forks are found through the index, so one created " +
			"a moment ago may not be listed yet; every other link is read from the sessions themselves.",
		security: bearerSecurity,
		request: { params: SessionParams },
		responses: { 200: json(Lineage, "The linked sessions and their links, oldest link first"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => c.json(unwrap(await lineage(c.env, c.var.principal, c.req.valid("param").id)), 200),
);
