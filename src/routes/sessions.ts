import { callerOf, checkSession, requires } from "../auth/authorize";
import { admitsId } from "../auth/scopes";
import type { Principal } from "../app-env";
import { createRoute } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor, listSessions, type SessionIndexEntry } from "../db/sessions";
import { ApiError, type Result, unwrap } from "../errors";
import { KeyHeaders, SessionParams, WriteHeaders } from "../schemas/common";
import { CreateSessionBody, DeletedSession, ListSessionsQuery, Session, SessionList, UpdateSessionBody } from "../schemas/sessions";
import { bearerSecurity, createRouter, errorResponses, json, sessionLinks, writeJson, caller } from "./router";
import { sessionApi } from "../operations/session-api";
import { createSession } from "../operations/sessions";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";
import { indexDatabase } from "../projector/shards";

export const sessionRoutes = createRouter();

sessionRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions",
		operationId: "createSession",
		tags: ["sessions"],
		summary: "Create a session",
		security: bearerSecurity,
		request: {
			headers: KeyHeaders,
			body: { required: true, content: { "application/json": { schema: CreateSessionBody } } },
		},
		responses: { 201: writeJson(Session, "Created", { location: "The session: /v1/sessions/{id}", links: sessionLinks }), ...errorResponses(409, 410, 413, 415, 422) },
	}),
	async (c) => {
		const result = await createSession(c.env, c.var.principal, c.req.valid("json"), writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${value.id}`);
	},
);

sessionRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions",
		operationId: "listSessions",
		tags: ["sessions"],
		summary: "List sessions from the D1 index",
		description: "The index is updated from each session's outbox shortly after every write (eventually consistent).",
		security: bearerSecurity,
		request: { query: ListSessionsQuery },
		responses: { 200: json(SessionList, "A page of sessions"), ...errorResponses(503) },
	}),
	async (c) => {
		const { cursor, ...query } = c.req.valid("query");
		const after = cursor === undefined ? null : decodeCursor(cursor);
		if (cursor !== undefined && after === null) {
			throw new ApiError("validation_failed", "Invalid cursor", { issues: [{ path: "cursor", message: "not a cursor from this API" }] });
		}
		let page: Awaited<ReturnType<typeof listSessions>>;
		try {
			page = await listSessions(indexDatabase(c.env, c.var.principal.tenant), c.var.principal.tenant, query, after, c.var.principal.scopes.sessions);
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "session index query failed", error: String(error) }));
			throw new ApiError("dependency_unavailable", "The session index is unavailable; retry");
		}
		return c.json({ sessions: page.rows.map(toSummary), nextCursor: page.next ? encodeCursor(page.next) : null }, 200);
	},
);

function toSummary(row: SessionIndexEntry) {
	return {
		id: row.id,
		status: row.status,
		agent: row.agent,
		subject: row.subject,
		parentId: row.parentId,
		version: row.version,
		eventCount: row.eventCount,
		tokensTotal: row.tokensTotal,
		createdAt: new Date(row.createdAt).toISOString(),
		updatedAt: new Date(row.updatedAt).toISOString(),
		deletedAt: row.deletedAt === null ? null : new Date(row.deletedAt).toISOString(),
	};
}

sessionRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}",
		operationId: "getSession",
		tags: ["sessions"],
		summary: "Read a session: version, counters, token totals, lease, projection lag",
		security: bearerSecurity,
		request: { params: SessionParams },
		responses: { 200: json(Session, "The session"), ...errorResponses(404, 410) },
	}),
	async (c) => {
		const session = unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).describe(caller(c)));
		c.header("ETag", `"${session.version}"`);
		return c.json(session, 200);
	},
);

sessionRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("write"),
		path: "/v1/sessions/{id}",
		operationId: "deleteSession",
		tags: ["sessions"],
		summary: "Delete a session everywhere, keeping a content-free tombstone",
		description:
			"Purges the object's storage, the D1 index rows and every R2 object of the session. A held lease does not block it. " +
			"202 means R2 or D1 could not be reached yet; the object keeps retrying until the purge is complete.",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders.pick({ "if-match": true }) },
		responses: {
			200: json(DeletedSession, "Deleted and purged"),
			202: json(DeletedSession, "Deleted; purge of R2/D1 still pending"),
			...errorResponses(404, 409),
		},
	}),
	async (c) => {
		const deleted = unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).deleteSession(caller(c), writeOptions(c.req.valid("header"))));
		return deleted.purge === "complete" ? c.json(deleted, 200) : c.json(deleted, 202);
	},
);

sessionRoutes.openapi(
	createRoute({
		method: "patch",
		...requires("write"),
		path: "/v1/sessions/{id}",
		operationId: "updateSession",
		tags: ["sessions"],
		summary: "Change agent, subject, metadata or policy fields, or layer links",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: WriteHeaders,
			body: { required: true, content: { "application/json": { schema: UpdateSessionBody } } },
		},
		responses: { 200: writeJson(Session, "Updated"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		if (body.links) await checkLayerTargets(c.env, c.var.principal, body.links);
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).updateSession(caller(c), body, writeOptions(c.req.valid("header"), body.expectedVersion));
		return writeResponse(c, result, 200, (value) => value.version);
	},
);

/**
 * A layer is read into the windows of whoever reads the thread, so a credential may link only
 * sessions it could read itself: by id, or (for `subject=` scopes) as the linked object decides.
 */
async function checkLayerTargets(env: Env, principal: Principal, links: Record<string, string | null>): Promise<void> {
	for (const target of Object.values(links)) {
		if (target === null || admitsId(principal.scopes.sessions, target)) continue;
		checkSession(principal, target);
		const reached: Result<unknown> = await sessionApi(env, principal, target).describeLineage(callerOf(principal));
		if (!reached.ok) throw ApiError.from(reached);
	}
}
