import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { readContent } from "../operations/content";
import { SessionId } from "../schemas/common";
import { bearerSecurity, createRouter, errorResponses } from "./router";

export const blobRoutes = createRouter();

blobRoutes.openapi(
	createRoute({
		method: "get",
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
		return c.json(unwrap(await readContent(c.env, c.var.principal, id, sha256)), 200);
	},
);
