/**
 * The LangGraph checkpointer's routes (the saver is sdk/src/langgraph.ts). A thread is a
 * session: its id is the path's session id, created with the first checkpoint. Namespaces,
 * checkpoint ids, channels and task ids travel as values. Each saver call is one request.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requires } from "../auth/authorize";
import { unwrap } from "../errors";
import { putCheckpoint, putWrites, searchCheckpoints } from "../operations/graph";
import { sessionApi } from "../operations/session-api";
import { SessionParams, Version, WriteHeaders } from "../schemas/common";
import { GraphListQuery, GraphPage, GraphPutBody, GraphSearchQuery, GraphTupleQuery, GraphTupleResult, GraphWriteResult, GraphWritesBody } from "../schemas/graph";
import { writeResponse } from "./respond";
import { bearerSecurity, caller, createRouter, errorResponses, json, writeJson } from "./router";
import { writeOptions } from "./write-options";

export const graphRoutes = createRouter();

graphRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/graph/checkpoints",
		operationId: "putGraphCheckpoint",
		tags: ["langgraph"],
		summary: "Store a LangGraph checkpoint and the channel values it changed (the thread's session is created on its first one)",
		description:
			"One transaction: the checkpoint (without its channel values), and each new channel value keyed by (namespace, channel, " +
			"version); a value already stored at that version is kept. Values larger than the inline limit go to R2. The checkpoint " +
			"itself stays out of the events, the state, the token counts and the context window. The root graph's messages sent in " +
			"`conversation` are mirrored: those whose id the session has not seen are appended as message events (so they count " +
			"tokens and show in the window). The session version moves by one.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: GraphPutBody } } } },
		responses: { 200: writeJson(GraphWriteResult, "Stored"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const result = await putCheckpoint(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

graphRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/graph/writes",
		operationId: "putGraphWrites",
		tags: ["langgraph"],
		summary: "Store a task's pending writes against a checkpoint (the thread's session is created if it does not exist yet)",
		description:
			"One transaction. Keyed by (namespace, checkpoint, task, idx): a regular write (idx >= 0) keeps the first value stored, " +
			"so a retried task cannot change what a resumed graph replays; a special write (idx < 0: error, interrupt, resume) is replaced.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders, body: { required: true, content: { "application/json": { schema: GraphWritesBody } } } },
		responses: { 200: writeJson(GraphWriteResult, "Stored"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const result = await putWrites(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

graphRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/graph/tuple",
		operationId: "getGraphTuple",
		tags: ["langgraph"],
		summary: "A checkpoint (the namespace's latest by default) with its channel values and pending writes",
		security: bearerSecurity,
		request: { params: SessionParams, query: GraphTupleQuery },
		responses: { 200: json(GraphTupleResult, "The checkpoint, or null"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const tuple = unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).getGraphTuple(caller(c), c.req.valid("query")));
		return c.json({ tuple }, 200);
	},
);

graphRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/graph/checkpoints",
		operationId: "listGraphCheckpoints",
		tags: ["langgraph"],
		summary: "The thread's checkpoints, newest id first, filtered by namespace, `before` and metadata",
		security: bearerSecurity,
		request: { params: SessionParams, query: GraphListQuery },
		responses: { 200: json(GraphPage, "A page of checkpoints; ask again with `before` the last id for more"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const page = unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listGraphCheckpoints(caller(c), c.req.valid("query")));
		return c.json(page, 200);
	},
);

graphRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/graph/checkpoints",
		operationId: "searchGraphCheckpoints",
		tags: ["langgraph"],
		summary: "Checkpoints across threads, newest id first",
		description:
			"Reads the threads the index knows as checkpointer-created (it lags writes by about a second) and those named in " +
			"`threads`, at most 100, most recently updated first, and merges their pages.",
		security: bearerSecurity,
		request: { query: GraphSearchQuery },
		responses: { 200: json(GraphPage, "A page of checkpoints"), ...errorResponses(503) },
	}),
	async (c) => c.json(unwrap(await searchCheckpoints(c.env, c.var.principal, c.req.valid("query"))), 200),
);

graphRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("write"),
		path: "/v1/sessions/{id}/graph",
		operationId: "deleteGraphThread",
		tags: ["langgraph"],
		summary: "Clear the thread's graph data so its id can be used again",
		description:
			"One transaction: empties the checkpoints, channel values and pending writes, and retracts the message events mirrored " +
			"from the graph's conversation (they leave the events list and the context window, and stay in the history with " +
			"`includeRetracted=true`). The session, its state and events written otherwise stay. A thread that does not exist is already clear.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders },
		responses: { 200: writeJson(z.object({ deleted: z.number().int().openapi({ description: "Checkpoints removed" }), version: Version }), "Cleared"), ...errorResponses(409, 410, 423, 503) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).deleteGraphThread(caller(c), writeOptions(c.req.valid("header")));
		if (!result.ok && result.code === "session_not_found") return c.json({ deleted: 0, version: 0 }, 200);
		return writeResponse(c, result, 200, (value) => value.version);
	},
);
