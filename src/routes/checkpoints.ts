import { requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { KeyHeaders, SessionId, SessionParams, WriteHeaders } from "../schemas/common";
import { Checkpoint, CheckpointName, CheckpointPage, CreateCheckpointBody, ForkBody, ListCheckpointsQuery, RestoreBody, RestoreResult } from "../schemas/context";
import { Session } from "../schemas/sessions";
import { StateItem } from "../schemas/state";
import { bearerSecurity, createRouter, errorResponses, json, sessionLinks, writeJson, caller } from "./router";
import { sessionApi } from "../operations/session-api";
import { forkSession } from "../operations/sessions";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const checkpointRoutes = createRouter();

const CheckpointParams = z.object({
	id: SessionId.openapi({ param: { name: "id", in: "path" } }),
	name: CheckpointName.openapi({ param: { name: "name", in: "path" } }),
});

checkpointRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/checkpoints",
		operationId: "createCheckpoint",
		tags: ["checkpoints"],
		summary: "Name the current version: its state and context position",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: CreateCheckpointBody } } },
		},
		responses: { 201: writeJson(Checkpoint, "Created", {
				location: "The checkpoint: /v1/sessions/{id}/checkpoints/{name}",
				links: { getCheckpoint: { operationId: "getCheckpoint", parameters: { id: "$request.path.id", name: "$response.body#/name" } } },
			}), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).createCheckpoint(caller(c), c.req.valid("json").name, writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${c.req.valid("param").id}/checkpoints/${value.name}`);
	},
);

checkpointRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/checkpoints",
		operationId: "listCheckpoints",
		tags: ["checkpoints"],
		summary: "List checkpoints",
		security: bearerSecurity,
		request: { params: SessionParams, query: ListCheckpointsQuery },
		responses: { 200: json(CheckpointPage, "A page of checkpoints by version, then name"), ...errorResponses(404, 410) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listCheckpoints(caller(c), c.req.valid("query"))), 200),
);

checkpointRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/checkpoints/{name}",
		operationId: "getCheckpoint",
		tags: ["checkpoints"],
		summary: "Read a checkpoint with the state as it was",
		security: bearerSecurity,
		request: { params: CheckpointParams },
		responses: {
			200: json(Checkpoint.extend({ state: z.array(StateItem) }), "The checkpoint and its state"),
			...errorResponses(404, 410),
		},
	}),
	async (c) => {
		const { id, name } = c.req.valid("param");
		return c.json(unwrap(await sessionApi(c.env, c.var.principal, id).getCheckpoint(caller(c), name)), 200);
	},
);

checkpointRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/restore",
		operationId: "restoreSession",
		tags: ["checkpoints"],
		summary: "Rewind state and window to a checkpoint or version, as a new version",
		description: "History stays in the log: events after the target are marked rewound and leave the window.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: RestoreBody } } },
		},
		responses: { 200: writeJson(RestoreResult, "Restored"), ...errorResponses(404, 409, 410, 413, 415, 422, 423, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).restore(caller(c), body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

checkpointRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/fork",
		operationId: "forkSession",
		tags: ["checkpoints"],
		summary: "Start a new session from this one's context at a checkpoint or version",
		description:
			"The fork gets the state, the summary in effect and the uncompacted events (same seqs) of that version, a parent " +
			"link, and its own copies of large content. From then on the two are independent.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: KeyHeaders,
			body: { required: true, content: { "application/json": { schema: ForkBody } } },
		},
		responses: { 201: writeJson(Session, "The fork", { location: "The fork: /v1/sessions/{forkId}", links: sessionLinks }), ...errorResponses(404, 409, 410, 413, 415, 422, 503) },
	}),
	async (c) => {
		const result = await forkSession(c.env, c.var.principal, c.req.valid("param").id, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${value.id}`);
	},
);
