import { requires } from "../auth/authorize";
import { createRoute } from "@hono/zod-openapi";
import { SessionParams, WriteHeaders } from "../schemas/common";
import { RetractEventsBody, RetractResult } from "../schemas/events";
import { sessionApi } from "../operations/session-api";
import { bearerSecurity, caller, createRouter, errorResponses, writeJson } from "./router";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const retractRoutes = createRouter();

retractRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/events/retract",
		operationId: "retractEvents",
		tags: ["events"],
		summary: "Hide the tail of the log (pop, clear, replace a suffix), atomically, keeping it in the history",
		description:
			"Hides every event in effect from `fromSeq` on from the event list and the context window, as one new version, and " +
			"appends `events` (if any) in the same write. With `expectSeqs` it happens only if the events from `fromSeq` on are " +
			"still exactly those (409 tail_changed otherwise): replace a suffix if it still equals what was read. The rows stay " +
			"in the log (`GET …/events?includeRetracted=true`, the audit trail, `at=V` before the retraction), and a restore to a " +
			"version before it brings them back.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: RetractEventsBody } } },
		},
		responses: { 200: writeJson(RetractResult, "Retracted (and appended)"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).retractEvents(caller(c), body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);
