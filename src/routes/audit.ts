import { createRoute } from "@hono/zod-openapi";
import { requires } from "../auth/authorize";
import { decodeAuditCursor, encodeAuditCursor, listTenantAudit, type AuditIndexEntry } from "../db/audit";
import { ApiError, unwrap } from "../errors";
import { sessionApi } from "../operations/session-api";
import { SessionAuditPage, SessionAuditQuery, TenantAuditPage, TenantAuditQuery } from "../schemas/audit";
import type { Json } from "../schemas/common";
import { SessionParams } from "../schemas/common";
import { bearerSecurity, caller, createRouter, errorResponses, json } from "./router";
import { indexDatabase } from "../projector/shards";

export const auditRoutes = createRouter();

auditRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin"),
		path: "/v1/sessions/{id}/audit",
		operationId: "getSessionAudit",
		tags: ["governance"],
		summary: "The session's audit trail: every window served, every read and write",
		description:
			"Read from the session itself, so it includes the request that just finished. A record of a context read names the " +
			"version served and the window's parameters: `GET …/context?at=<version>` with them returns the same window.",
		security: bearerSecurity,
		request: { params: SessionParams, query: SessionAuditQuery },
		responses: { 200: json(SessionAuditPage, "A page of records, oldest first"), ...errorResponses(404, 410) },
	}),
	async (c) => c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).listAudit(caller(c), c.req.valid("query"))), 200),
);

function toRecord(row: AuditIndexEntry) {
	return {
		seq: row.seq,
		sessionId: row.sessionId,
		at: new Date(row.at).toISOString(),
		principal: row.principal,
		agent: row.agent,
		operation: row.operation,
		version: row.version,
		what: row.what === null ? null : (JSON.parse(row.what) as Json),
		requestId: row.requestId,
	};
}

auditRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin"),
		path: "/v1/audit",
		operationId: "getTenantAudit",
		tags: ["governance"],
		summary: "The tenant's audit trail across sessions, from the D1 index",
		description: "Filled from each session's trail shortly after the fact (eventually consistent, like the session index).",
		security: bearerSecurity,
		request: { query: TenantAuditQuery },
		responses: { 200: json(TenantAuditPage, "A page of records, oldest first"), ...errorResponses(503) },
	}),
	async (c) => {
		const { cursor, from, to, ...query } = c.req.valid("query");
		const after = cursor === undefined ? null : decodeAuditCursor(cursor);
		if (cursor !== undefined && after === null) {
			throw new ApiError("validation_failed", "Invalid cursor", { issues: [{ path: "cursor", message: "not a cursor from this API" }] });
		}
		const principal = c.var.principal;
		const filter = { ...query, from: from === undefined ? undefined : Date.parse(from), to: to === undefined ? undefined : Date.parse(to), scope: principal.scopes.sessions };
		let page: Awaited<ReturnType<typeof listTenantAudit>>;
		try {
			page = await listTenantAudit(indexDatabase(c.env, principal.tenant), principal.tenant, filter, after);
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "audit query failed", error: String(error) }));
			throw new ApiError("dependency_unavailable", "The audit index is unavailable; retry");
		}
		return c.json({ records: page.page.map(toRecord), nextCursor: page.next ? encodeAuditCursor(page.next) : null }, 200);
	},
);
