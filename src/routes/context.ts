import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { CompactBody, CompactionPage, CompactResult, ContextQuery, ContextWindow, ListCompactionsQuery } from "../schemas/context";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
import { timedLookup } from "../operations/lookups";
import { layeredContext } from "../operations/layers";
import { sessionApi } from "../operations/session-api";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const contextRoutes = createRouter();

contextRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/context",
		operationId: "getContext",
		tags: ["context"],
		summary: "The context window for a token budget, now or at an earlier version",
		description:
			"Built newest-first within the budget: pinned items, a digest of live state, the latest compaction summary, then the " +
			"most recent events; content kept in R2 appears as a reference with a preview. Its cost follows the budget, not the " +
			"session's length. With `at=V` it rebuilds the window served at version V, also after later compactions. " +
			"422 budget_too_small when the pinned items alone exceed the budget. With `layers=user` (or `all`) the sessions " +
			"linked as layers (PATCH `links`) each add their pinned items, state digest and summary, labelled with `source`, " +
			"after the thread's pinned items, within `layerShare` of the budget together (default 0.25).",
		security: bearerSecurity,
		request: { params: SessionParams, query: ContextQuery },
		responses: { 200: json(ContextWindow, "The window"), ...errorResponses(404, 410, 422, 503) },
	}),
	async (c) => {
		const { id } = c.req.valid("param");
		const query = c.req.valid("query");
		const layers = query.layers;
		const window = unwrap(
			layers === undefined
				? await timedLookup(c, id, "context", () => sessionApi(c.env, c.var.principal, id).getContext(caller(c), query))
				: await layeredContext(c.env, c.var.principal, id, { ...query, layers }),
		);
		// A layered window also reflects other sessions' versions: the thread's alone would be a false ETag.
		if (layers === undefined) c.header("ETag", `"${window.version}"`);
		return c.json(window, 200);
	},
);

contextRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/compact",
		operationId: "compactSession",
		tags: ["context"],
		summary: "Compact now, optionally with an agent-written summary",
		description:
			"Folds events up to `upToSeq` (default: all but the policy's recent ones) into a summary; pinned events and the " +
			"policy's keep types stay verbatim. The originals are archived to R2 first and stay readable.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: CompactBody } } },
		},
		responses: { 200: writeJson(CompactResult, "Compacted, or why not"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).compact(caller(c), body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.compaction?.version);
	},
);

contextRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/compactions",
		operationId: "listCompactions",
		tags: ["context"],
		summary: "Compaction records: range, tokens before and after, ratio, summarizer",
		security: bearerSecurity,
		request: { params: SessionParams, query: ListCompactionsQuery },
		responses: { 200: json(CompactionPage, "A page of compactions, oldest first"), ...errorResponses(404, 410) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listCompactions(caller(c), c.req.valid("query"))), 200),
);
