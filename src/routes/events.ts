import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { BlobStore } from "../blobs/blob-store";
import { unwrap } from "../errors";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { AppendEventsBody, AppendResult, type Event, EventPage, ListEventsQuery } from "../schemas/events";
import { bearerSecurity, createRouter, errorResponses, json } from "./router";
import { markReplay, sessionStub } from "./session-stub";
import { readBlobContent } from "./blobs";
import { writeOptions } from "./write-options";

export const eventRoutes = createRouter();

eventRoutes.openapi(
	createRoute({
		method: "post",
		path: "/v1/sessions/{id}/events",
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
		responses: { 201: json(AppendResult, "Appended"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await sessionStub(c, c.req.valid("param").id).appendEvents(
			body,
			writeOptions(c.req.valid("header"), body.expectedVersion),
		);
		const appended = unwrap(result);
		markReplay(c, result.ok && result.replayed);
		c.header("ETag", `"${appended.version}"`);
		return c.json(appended, 201);
	},
);

eventRoutes.openapi(
	createRoute({
		method: "get",
		path: "/v1/sessions/{id}/events",
		tags: ["events"],
		summary: "Page through events by seq",
		security: bearerSecurity,
		request: { params: SessionParams, query: ListEventsQuery },
		responses: { 200: json(EventPage, "A page of events"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const { id } = c.req.valid("param");
		const { includeContent, ...query } = c.req.valid("query");
		const page = unwrap(await sessionStub(c, id).listEvents({ ...query, includeContent }));
		if (includeContent) page.events = await Promise.all(page.events.map((event) => expand(c, id, event)));
		return c.json(page, 200);
	},
);

async function expand(c: Context<AppEnv>, sessionId: string, event: Event): Promise<Event> {
	if (!event.contentRef) return event;
	return { ...event, content: await readBlobContent(c, new BlobStore(c.env.BLOBS), sessionId, event.contentRef.sha256) };
}
