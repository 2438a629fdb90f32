import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { BlobStore, BlobStoreUnavailable } from "../blobs/blob-store";
import { ApiError } from "../errors";
import { SessionId } from "../schemas/common";
import { bearerSecurity, createRouter, errorResponses } from "./router";

export const blobRoutes = createRouter();

/**
 * The parsed JSON of a blob of the caller's tenant and this session. The R2 key is built from
 * the principal's tenant, so no other tenant's object can be addressed.
 */
export async function readBlobContent(c: Context<AppEnv>, store: BlobStore, sessionId: string, sha256: string): Promise<unknown> {
	let text: string | null;
	try {
		text = await store.get(c.var.principal.tenant, sessionId, sha256);
	} catch (error) {
		if (error instanceof BlobStoreUnavailable) throw new ApiError("dependency_unavailable", "R2 is unavailable; retry");
		throw error;
	}
	if (text === null) throw new ApiError("not_found", "No such content in this session", { sha256 });
	return JSON.parse(text);
}

blobRoutes.openapi(
	createRoute({
		method: "get",
		path: "/v1/sessions/{id}/blobs/{sha256}",
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
		return c.json(await readBlobContent(c, new BlobStore(c.env.BLOBS), id, sha256), 200);
	},
);
