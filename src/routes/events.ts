import { checkOperation, checkSession, guard, requires } from "../auth/authorize";
import { CALLER_HEADER } from "../auth/scopes";
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, unwrap, validationError } from "../errors";
import { eventStream } from "../operations/live";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { AppendEventsBody, AppendResult, Event, EventPage, ListEventsQuery } from "../schemas/events";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
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
	// The JSON route's own check does not run for what is answered here.
	checkOperation(c.var.principal, "read");
	const parsed = ListEventsQuery.safeParse(c.req.query());
	const params = SessionParams.safeParse(c.req.param());
	if (!parsed.success) throw validationError(parsed.error, "query");
	if (!params.success) throw validationError(params.error, "path");
	const lastEventId = c.req.header("last-event-id");
	const after = lastEventId !== undefined ? seqOf(lastEventId, "Last-Event-ID") : (parsed.data.offset ?? parsed.data.after);
	const { id } = params.data;
	checkSession(c.var.principal, id);
	if (parsed.data.live === "sse") {
		const check = await sessionApi(c.env, c.var.principal, id).describe(caller(c));
		unwrap(check);
		return c.body(eventStream(c.env, c.var.principal, id, after), 200, {
			"content-type": "text/event-stream",
			"cache-control": "no-cache",
		});
	}
	const page = unwrap(await sessionApi(c.env, c.var.principal, id).nextEvents(caller(c), after, parsed.data.limit, LONG_POLL_MS));
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
		...requires("write"),
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
			caller(c),
			body,
			writeOptions(c.req.valid("header"), body.expectedVersion),
		);
		return writeResponse(c, result, 201, (value) => value.version);
	},
);

eventRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
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
		const page = unwrap(await sessionApi(c.env, c.var.principal, id).listEvents(caller(c), { ...query, includeContent }));
		return c.json(includeContent ? unwrap(await expandEventPage(c.env, c.var.principal, id, page)) : page, 200);
	},
);

// The WebSocket upgrade goes to the session's object, which holds the subscriber (hibernation
// API); the Worker authenticates, authorizes and validates first. Documented, plainly served.
eventRoutes.openAPIRegistry.registerPath(
	createRoute({
		method: "get",
		"x-required-operation": "read",
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
eventRoutes.get("/v1/sessions/:id/subscribe", guard("read"), async (c) => {
	const params = SessionParams.safeParse(c.req.param());
	if (!params.success) throw validationError(params.error, "path");
	const after = c.req.query("after");
	if (after !== undefined) seqOf(after, "after");
	if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
		throw new ApiError("upgrade_required", "Connect with a WebSocket upgrade (Upgrade: websocket)");
	}
	const forwarded = new Request(c.req.raw);
	forwarded.headers.set(CALLER_HEADER, JSON.stringify(caller(c)));
	return sessionApi(c.env, c.var.principal, params.data.id).fetch(forwarded);
});

// The Durable Streams read protocol (JSON mode) over a session's events, so its clients can
// tail a session: `offset` is the last seq seen ("-1": the start), the body a JSON array of
// events, `Stream-Next-Offset` where to go on from, `Stream-Up-To-Date` when nothing is left;
// `live=long-poll` waits for the next commit and answers 204 when none came.
eventRoutes.openAPIRegistry.registerPath(
	createRoute({
		method: "get",
		"x-required-operation": "read",
		path: "/v1/sessions/{id}/stream",
		operationId: "readStream",
		tags: ["events"],
		summary: "The session's events over the Durable Streams read protocol",
		description:
			"`offset` is an opaque position from `Stream-Next-Offset` (\"-1\" for the start). The body is a JSON array of events; " +
			"`Stream-Up-To-Date` marks the end. With `live=long-poll` an up-to-date reader waits for the next commit (204 when none came).",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			query: z.object({ offset: z.string().regex(/^(-1|\d{1,16})$/).optional(), live: z.enum(["long-poll"]).optional(), cursor: z.string().max(64).optional() }),
		},
		responses: {
			200: { description: "Events after the offset", content: { "application/json": { schema: z.array(Event) } } },
			204: { description: "No new events before the long-poll timed out" },
			...errorResponses(404, 410),
		},
	}),
);
eventRoutes.get("/v1/sessions/:id/stream", guard("read"), async (c) => {
	const params = SessionParams.safeParse(c.req.param());
	if (!params.success) throw validationError(params.error, "path");
	const offset = c.req.query("offset") ?? "-1";
	const after = offset === "-1" ? 0 : seqOf(offset, "offset");
	const live = c.req.query("live");
	if (live !== undefined && live !== "long-poll") throw new ApiError("validation_failed", "live must be long-poll here (SSE: GET …/events?live=sse)", { issues: [{ path: "live", message: "long-poll" }] });
	const api = sessionApi(c.env, c.var.principal, params.data.id);
	const page = unwrap(live ? await api.nextEvents(caller(c), after, STREAM_BATCH, LONG_POLL_MS) : await api.listEvents(caller(c), { after, limit: CATCH_UP_BATCH, includeArchived: true, includeContent: false, includeRetracted: true }));
	const nextOffset = String(page.events.at(-1)?.seq ?? after);
	c.header("Stream-Next-Offset", nextOffset);
	c.header("Stream-Cursor", nextOffset);
	c.header("Cache-Control", "no-store");
	if (page.nextAfter === null) c.header("Stream-Up-To-Date", "true");
	if (live && page.events.length === 0) return c.body(null, 204);
	return c.json(page.events, 200);
});

/**
 * Events per response. A catch-up read (no `live`) is answered up to the end in one response
 * when it can be, because that is what the protocol's clients read before they stop; a longer
 * backlog ends early without Stream-Up-To-Date and the client resumes from its offset.
 */
const CATCH_UP_BATCH = 1000;
const STREAM_BATCH = 100;
