import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, unwrap, validationError } from "../errors";
import { eventStream } from "../operations/live";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { AppendEventsBody, AppendResult, EventPage, ListEventsQuery } from "../schemas/events";
import { bearerSecurity, createRouter, errorResponses, json, writeJson } from "./router";
import { sessionApi } from "../operations/session-api";
import { writeResponse } from "./respond";
import { expandEventPage } from "../operations/content";
import { writeOptions } from "./write-options";

export const eventRoutes = createRouter();

/** A seq given as Last-Event-ID or offset: a non-negative safe integer, else 400. */
function seqOf(value: string, where: string): number {
	const seq = Number(value);
	if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(seq)) {
		throw new ApiError("validation_failed", `${where} must be an event seq`, { issues: [{ path: where, message: "a non-negative integer" }] });
	}
	return seq;
}

// `?live=` answers with a stream or a long-poll, which the JSON route below cannot type: it is
// served here, ahead of it, after the same validation (the query schema documents `live`).
eventRoutes.use("/v1/sessions/:id/events", async (c, next) => {
	const live = c.req.query("live");
	if (c.req.method !== "GET" || live === undefined) return next();
	const parsed = ListEventsQuery.safeParse(c.req.query());
	const params = SessionParams.safeParse(c.req.param());
	if (!parsed.success) throw validationError(parsed.error, "query");
	if (!params.success) throw validationError(params.error, "path");
	const lastEventId = c.req.header("last-event-id");
	const after = lastEventId !== undefined ? seqOf(lastEventId, "Last-Event-ID") : (parsed.data.offset ?? parsed.data.after);
	const { id } = params.data;
	if (parsed.data.live === "sse") {
		const check = await sessionApi(c.env, c.var.principal, id).describe();
		unwrap(check);
		return c.body(eventStream(c.env, c.var.principal, id, after), 200, {
			"content-type": "text/event-stream",
			"cache-control": "no-cache",
		});
	}
	const page = unwrap(await sessionApi(c.env, c.var.principal, id).nextEvents(after, parsed.data.limit, LONG_POLL_MS));
	const nextOffset = page.events.at(-1)?.seq ?? after;
	c.header("Stream-Next-Offset", String(nextOffset));
	if (page.nextAfter === null) c.header("Stream-Up-To-Date", "true");
	return c.json({ events: page.events, nextAfter: page.nextAfter, nextOffset, upToDate: page.nextAfter === null, timedOut: page.timedOut }, 200);
});

/** How long a long-poll waits for a commit before answering with no events. */
const LONG_POLL_MS = 25_000;

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
		responses: { 201: writeJson(AppendResult, "Appended", {
			links: {
				listEvents: { operationId: "listEvents", parameters: { id: "$request.path.id" } },
				getContext: { operationId: "getContext", parameters: { id: "$request.path.id" } },
			},
		}), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
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

// The WebSocket upgrade goes to the session's object, which holds the subscriber (hibernation
// API); the Worker authenticates, authorizes and validates first. Documented, plainly served.
eventRoutes.openAPIRegistry.registerPath(
	createRoute({
		method: "get",
		path: "/v1/sessions/{id}/subscribe",
		operationId: "subscribe",
		tags: ["events"],
		summary: "Follow the session over a WebSocket",
		description:
			"Upgrade with `Upgrade: websocket`. Messages are JSON: `{type: \"events\", events}` (the backlog after `after`, archived events " +
			"included, then each commit's events in seq order), `{type: \"up-to-date\", after}` once the backlog is sent, and " +
			"`{type: \"commit\", operation, version}` for every commit (compactions, approvals and workflow changes too).",
		security: bearerSecurity,
		request: { params: SessionParams, query: z.object({ after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ type: "integer" }) }) },
		responses: { 101: { description: "Switching protocols" }, ...errorResponses(404, 410, 426) },
	}),
);
eventRoutes.get("/v1/sessions/:id/subscribe", async (c) => {
	const params = SessionParams.safeParse(c.req.param());
	if (!params.success) throw validationError(params.error, "path");
	const after = c.req.query("after");
	if (after !== undefined) seqOf(after, "after");
	if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
		throw new ApiError("upgrade_required", "Connect with a WebSocket upgrade (Upgrade: websocket)");
	}
	return sessionApi(c.env, c.var.principal, params.data.id).fetch(c.req.raw);
});
