import { createRoute } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { AppendEventsBody, AppendResult, EventPage, ListEventsQuery } from "../schemas/events";
import { bearerSecurity, createRouter, errorResponses, json, writeJson } from "./router";
import { sessionApi } from "../operations/session-api";
import { writeResponse } from "./respond";
import { expandEventPage } from "../operations/content";
import { writeOptions } from "./write-options";

export const eventRoutes = createRouter();

eventRoutes.openapi(
	createRoute({
		method: "post",
		path: "/v1/sessions/{id}/events",
		operationId: "appendEvents",
		tags: ["events"],
		summary: "Append one or more events atomically",
		description:
			"All events of a request get consecutive seqs under one new session version, or none is written. " +
			"Content whose JSON exceeds the inline limit is stored in R2 and returned as a contentRef.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: AppendEventsBody } } },
		},
		responses: { 201: writeJson(AppendResult, "Appended"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).appendEvents(
			body,
			writeOptions(c.req.valid("header"), body.expectedVersion),
		);
		return writeResponse(c, result, 201, (value) => value.version);
	},
);

eventRoutes.openapi(
	createRoute({
		method: "get",
		path: "/v1/sessions/{id}/events",
		operationId: "listEvents",
		tags: ["events"],
		summary: "Page through events by seq",
		security: bearerSecurity,
		request: { params: SessionParams, query: ListEventsQuery },
		responses: { 200: json(EventPage, "A page of events"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const { id } = c.req.valid("param");
		const { includeContent, ...query } = c.req.valid("query");
		const page = unwrap(await sessionApi(c.env, c.var.principal, id).listEvents({ ...query, includeContent }));
		return c.json(includeContent ? unwrap(await expandEventPage(c.env, c.var.principal, id, page)) : page, 200);
	},
);
