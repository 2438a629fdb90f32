import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { callerOf } from "../auth/authorize";
import type { Caller } from "../auth/scopes";
import { ErrorResponse, validationError } from "../errors";

/** A sub-app whose validation failures become 400 validation_failed with field paths. */
export function createRouter(): OpenAPIHono<AppEnv> {
	return new OpenAPIHono<AppEnv>({
		defaultHook: (result) => {
			if (!result.success) throw validationError(result.error, result.target === "json" ? "request body" : result.target);
		},
	});
}

const errorContent = { content: { "application/json": { schema: ErrorResponse } } };

/** The error responses a route can give, for the OpenAPI document. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 423 | 426 | 503)[]) {
	const descriptions: Record<number, string> = {
		400: "Invalid JSON or failed validation",
		401: "Missing or invalid API key",
		403: "The key's role does not allow this",
		404: "Not found",
		409: "Version conflict, existing session or stale lease token",
		410: "The session was deleted",
		413: "Request body too large",
		415: "Body is not application/json",
		422: "Idempotency-Key reused for a different request",
		423: "Session is leased by another writer, or paused",
		426: "This route needs a WebSocket upgrade",
		503: "A dependency (R2, D1) is unavailable; retry",
	};
	return Object.fromEntries(
		[400, 401, 403, ...statuses].map((status) => [status, { description: descriptions[status], ...errorContent }]),
	);
}

export const bearerSecurity = [{ bearerAuth: [] }];

const requestIdHeader = {
	"X-Request-Id": { description: "The request's id (the one sent, or a generated one); it is in every log line and error", schema: { type: "string" as const } },
};

/** A JSON response entry for createRoute. */
export function json<T extends z.ZodType>(schema: T, description: string) {
	return { description, headers: requestIdHeader, content: { "application/json": { schema } } };
}

/** The response of a write: the session version it produced as ETag, and the replay marker. */
/** OpenAPI links: operations a client can call next with ids taken from this response. */
export type Links = Record<string, { operationId: string; parameters: Record<string, string>; description?: string }>;

export function writeJson<T extends z.ZodType>(schema: T, description: string, options: { location?: string; links?: Links } = {}) {
	return {
		description,
		...(options.links ? { links: options.links } : {}),
		headers: {
			...requestIdHeader,
			ETag: { description: 'The session version after this write, e.g. "7": send it as If-Match to write only on top of it', schema: { type: "string" as const } },
			"Idempotent-Replayed": { description: "true when this is the remembered response to an earlier request with the same Idempotency-Key", schema: { type: "string" as const, enum: ["true"] } },
			...(options.location ? { Location: { description: options.location, schema: { type: "string" as const } } } : {}),
		},
		content: { "application/json": { schema } },
	};
}

/** Links from a response describing a session (`id` in the body) to what one does with it next. */
export const sessionLinks: Links = {
	getSession: { operationId: "getSession", parameters: { id: "$response.body#/id" } },
	appendEvents: { operationId: "appendEvents", parameters: { id: "$response.body#/id" } },
	getContext: { operationId: "getContext", parameters: { id: "$response.body#/id" } },
	putState: { operationId: "putState", parameters: { id: "$response.body#/id" } },
};

/** The request's caller, as every session object call receives it. */
export function caller(c: Context<AppEnv>): Caller {
	return callerOf(c.var.principal);
}
