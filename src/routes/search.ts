import { createRoute } from "@hono/zod-openapi";
import { requires } from "../auth/authorize";
import { searchSessions } from "../db/search";
import { ApiError, unwrap } from "../errors";
import { sessionApi } from "../operations/session-api";
import { SessionParams } from "../schemas/common";
import { SearchQuery, SearchResult, SessionSearchQuery, SessionSearchResult } from "../schemas/search";
import { noWords } from "../session/search/search";
import { matchExpression } from "../session/search/query";
import { bearerSecurity, caller, createRouter, errorResponses, json } from "./router";
import { indexDatabase } from "../projector/shards";

export const searchRoutes = createRouter();

searchRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/search",
		operationId: "searchSession",
		tags: ["search"],
		summary: "Full-text search over a session's events and state values",
		description:
			"BM25-ranked hits with snippets, over event text (compacted and archived events included: their hits say `archived`) " +
			"and current state values (of the namespaces the credential may read).",
		security: bearerSecurity,
		request: { params: SessionParams, query: SessionSearchQuery },
		responses: { 200: json(SessionSearchResult, "Hits, best first"), ...errorResponses(404, 410, 503) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).search(caller(c), c.req.valid("query"));
		return c.json(unwrap(result), 200);
	},
);

searchRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/search",
		operationId: "search",
		tags: ["search"],
		summary: "Full-text search across the tenant's sessions",
		description:
			"BM25-ranked hits over the first 2 KB of each event's text, from the D1 index (updated from each session's outbox shortly " +
			"after every write: eventually consistent). Only sessions the credential may read; deleted sessions leave nothing.",
		security: bearerSecurity,
		request: { query: SearchQuery },
		responses: { 200: json(SearchResult, "Hits, best first"), ...errorResponses(503) },
	}),
	async (c) => {
		const { q, ...query } = c.req.valid("query");
		const match = matchExpression(q);
		if (match === null) throw ApiError.from(noWords());
		let hits: Awaited<ReturnType<typeof searchSessions>>;
		try {
			hits = await searchSessions(indexDatabase(c.env, c.var.principal.tenant), c.var.principal.tenant, match, query, c.var.principal.scopes.sessions);
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "search index query failed", error: String(error) }));
			throw new ApiError("dependency_unavailable", "The search index is unavailable; retry");
		}
		return c.json({ hits }, 200);
	},
);
