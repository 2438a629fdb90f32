import { guard, requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import { unwrap, validationError } from "../errors";
import { importSession } from "../operations/portability";
import { sessionApi } from "../operations/session-api";
import { KeyHeaders } from "../schemas/common";
import { ExportParams, ImportQuery } from "../schemas/portability";
import { Session } from "../schemas/sessions";
import { writeResponse } from "./respond";
import { bearerSecurity, createRouter, errorResponses, sessionLinks, writeJson, caller } from "./router";
import { writeOptions } from "./write-options";

export const portabilityRoutes = createRouter();

const ndjson = { "application/x-ndjson": { schema: z.string().openapi({ description: "One JSON object per line" }) } };

// A streamed NDJSON body has no JSON schema to type the handler with: the route is documented
// in the registry and served by a plain handler that validates its parameter itself.
const exportRoute = createRoute({
	method: "get",
	"x-required-operation": "read",
	path: "/v1/sessions/{id}/export",
	operationId: "exportSession",
	tags: ["sessions"],
	summary: "Export the whole session as one portable NDJSON document",
	description:
		"A header line (format and version), the session, every event (archived ones with their original seqs, versions and content), " +
		"state and its history, compactions, restores, checkpoints, workflows and approvals, the content of large values, and an end " +
		"line counting the lines. Importing it and exporting again gives the same bytes but for the id.",
	security: bearerSecurity,
	request: { params: ExportParams },
	responses: { 200: { description: "The document", content: ndjson }, ...errorResponses(404, 410, 422, 503) },
	});
portabilityRoutes.openAPIRegistry.registerPath(exportRoute);
portabilityRoutes.get("/v1/sessions/:id/export", guard("read"), async (c) => {
	const params = ExportParams.safeParse(c.req.param());
	if (!params.success) throw validationError(params.error, "path");
	const { id } = params.data;
	const stream = unwrap(await sessionApi(c.env, c.var.principal, id).exportSession(caller(c)));
	return c.body(stream, 200, { "content-type": "application/x-ndjson", "content-disposition": `attachment; filename="${id}.ndjson"` });
});

portabilityRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/import",
		operationId: "importSession",
		tags: ["sessions"],
		summary: "Recreate a session from an export",
		description:
			"The body is an export document (Content-Type application/x-ndjson). A malformed, truncated or inconsistent document is a 400 " +
			"naming the line, and creates nothing. The body limit (MAX_REQUEST_BYTES) bounds what can be imported in one request.",
		security: bearerSecurity,
		request: { query: ImportQuery, headers: KeyHeaders, body: { required: true, content: ndjson } },
		responses: { 201: writeJson(Session, "The imported session", { location: "The new session: /v1/sessions/{id}", links: sessionLinks }), ...errorResponses(409, 410, 413, 415, 422, 503) },
	}),
	async (c) => {
		const result = await importSession(c.env, c.var.principal, await c.req.text(), c.req.valid("query").id, writeOptions(c.req.valid("header")));
		return writeResponse(c, result, 201, (value) => value.version, (value) => `/v1/sessions/${value.id}`);
	},
);
