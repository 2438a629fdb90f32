import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { WriteHeaders } from "../schemas/common";
import {
	DeleteStateQuery,
	ListStateQuery,
	PutStateBody,
	StateItem,
	StateKeyParams,
	StateNamespaceParams,
	StatePage,
	StateWriteResult,
} from "../schemas/state";
import { expandStatePage, readContent } from "../operations/content";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
import { timedLookup } from "../operations/lookups";
import { sessionApi } from "../operations/session-api";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const stateRoutes = createRouter();

stateRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/state/{ns}",
		operationId: "listState",
		tags: ["state"],
		summary: "List a namespace's keys in key order",
		security: bearerSecurity,
		request: { params: StateNamespaceParams, query: ListStateQuery },
		responses: { 200: json(StatePage, "A page of keys"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const { id, ns } = c.req.valid("param");
		const { includeContent, ...query } = c.req.valid("query");
		const page = unwrap(await timedLookup(c, id, "state", () => sessionApi(c.env, c.var.principal, id).listState(caller(c), ns, query)));
		if (includeContent) return c.json(unwrap(await expandStatePage(c.env, c.var.principal, id, page)), 200);
		return c.json(page, 200);
	},
);

stateRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/state/{ns}/{key}",
		operationId: "getState",
		tags: ["state"],
		summary: "Read a key with its version",
		description: "A value stored in R2 comes as valueRef; add ?includeContent=true to inline it.",
		security: bearerSecurity,
		request: { params: StateKeyParams, query: ListStateQuery.pick({ includeContent: true }) },
		responses: { 200: json(StateItem, "The key"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const { id, ns, key } = c.req.valid("param");
		const item = unwrap(await timedLookup(c, id, "state", () => sessionApi(c.env, c.var.principal, id).getState(caller(c), ns, key)));
		c.header("ETag", `"${item.version}"`);
		if (c.req.valid("query").includeContent && item.valueRef) {
			item.value = unwrap(await readContent(c.env, c.var.principal, id, item.valueRef.sha256));
		}
		return c.json(item, 200);
	},
);

stateRoutes.openapi(
	createRoute({
		method: "put",
		...requires("write"),
		path: "/v1/sessions/{id}/state/{ns}/{key}",
		operationId: "putState",
		tags: ["state"],
		summary: "Set a key; compare-and-set with ifVersion",
		security: bearerSecurity,
		request: {
			params: StateKeyParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: PutStateBody } } },
		},
		responses: { 200: writeJson(StateWriteResult, "Written"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const { id, ns, key } = c.req.valid("param");
		const body = c.req.valid("json");
		const result = await sessionApi(c.env, c.var.principal, id).putState(caller(c), ns, key, body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

stateRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("write"),
		path: "/v1/sessions/{id}/state/{ns}/{key}",
		operationId: "deleteState",
		tags: ["state"],
		summary: "Delete a key; only if still at ifVersion when given",
		security: bearerSecurity,
		request: { params: StateKeyParams, headers: WriteHeaders, query: DeleteStateQuery },
		responses: { 200: writeJson(StateWriteResult, "Deleted"), ...errorResponses(404, 409, 410, 422, 423) },
	}),
	async (c) => {
		const { id, ns, key } = c.req.valid("param");
		const result = await sessionApi(c.env, c.var.principal, id).deleteState(caller(c), ns, key, c.req.valid("query").ifVersion, writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.sessionVersion);
	},
);
