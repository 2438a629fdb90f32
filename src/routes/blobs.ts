import { requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import { admitsId } from "../auth/scopes";
import { ApiError, unwrap } from "../errors";
import { sessionApi } from "../operations/session-api";
import { readContent } from "../operations/content";
import { SessionId } from "../schemas/common";
import { bearerSecurity, caller, createRouter, errorResponses } from "./router";

export const blobRoutes = createRouter();

blobRoutes.openapi(
	createRoute({
		method: "get",
		...requires("read"),
		path: "/v1/sessions/{id}/blobs/{sha256}",
		operationId: "getBlob",
		tags: ["events"],
		summary: "Read the full content behind a contentRef or valueRef",
		security: bearerSecurity,
		request: {
			params: z.object({
				id: SessionId.openapi({ param: { name: "id", in: "path" } }),
				sha256: z
					.string()
					.regex(/^[0-9a-f]{64}$/, "a lowercase hex SHA-256")
					.openapi({ param: { name: "sha256", in: "path" } }),
			}),
		},
		responses: {
			200: { description: "The stored JSON value", content: { "application/json": { schema: z.unknown() } } },
			...errorResponses(404, 503),
		},
	}),
	async (c) => {
		const { id, sha256 } = c.req.valid("param");
		const { scopes } = c.var.principal;
		// R2 is read directly: what only the object can decide is asked of it first.
		if (scopes.namespaces !== null) {
			throw new ApiError("namespace_out_of_scope", "This credential is limited to some namespaces: read content with includeContent=true on the read that returned the reference");
		}
		if (!admitsId(scopes.sessions, id)) unwrap(await sessionApi(c.env, c.var.principal, id).describe(caller(c)));
		return c.json(unwrap(await readContent(c.env, c.var.principal, id, sha256)), 200);
	},
);
