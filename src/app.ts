/**
 * The Worker: request id → structured log → body limit → auth → tenant-scoped routes. It
 * validates and authorizes; the session objects own ordering and consistency.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./app-env";
import { authenticate } from "./auth/authenticate";
import { ApiError, errorResponse, handleError } from "./errors";
import { serveMcp } from "./mcp/server";
import { approvalRoutes } from "./routes/approvals";
import { blobRoutes } from "./routes/blobs";
import { checkpointRoutes } from "./routes/checkpoints";
import { docsRoutes } from "./routes/docs";
import { contextRoutes } from "./routes/context";
import { eventRoutes } from "./routes/events";
import { graphRoutes } from "./routes/graph";
import { keyRoutes } from "./routes/keys";
import { tokenRoutes } from "./routes/tokens";
import { auditRoutes } from "./routes/audit";
import { erasureRoutes, PUBLIC_KEY_PATH } from "./routes/erasures";
import { metricsRoutes } from "./routes/metrics";
import { leaseRoutes } from "./routes/lease";
import { mergeRoutes } from "./routes/merge";
import { portabilityRoutes } from "./routes/portability";
import { searchRoutes } from "./routes/search";
import { retractRoutes } from "./routes/retract";
import { sessionRoutes } from "./routes/sessions";
import { stateRoutes } from "./routes/state";
import { workflowRoutes } from "./routes/workflows";
import { handoffRoutes } from "./routes/handoffs";
import { subagentRoutes } from "./routes/subagents";

const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * The methods routed for a path, to answer a request for another one with 405 and `Allow`
 * rather than 404. Built once from the app's routes.
 */
function allowedMethods(app: OpenAPIHono<AppEnv>): (path: string) => string[] {
	let routes: Array<{ pattern: RegExp; method: string }> | null = null;
	return (path) => {
		routes ??= app.routes
			.filter((route) => ["GET", "POST", "PUT", "PATCH", "DELETE"].includes(route.method) && !route.path.includes("*"))
			.map((route) => ({
				method: route.method,
				pattern: new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+")}$`),
			}));
		return [...new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))].sort();
	};
}

export function buildApp(): OpenAPIHono<AppEnv> {
	const app = new OpenAPIHono<AppEnv>();

	app.use(requestId({ limitLength: 128 }));
	app.use(async (c, next) => {
		const started = Date.now();
		await next();
		console.log(
			JSON.stringify({
				level: c.res.status >= 500 ? "error" : "info",
				msg: "request",
				requestId: c.var.requestId,
				method: c.req.method,
				path: c.req.path,
				status: c.res.status,
				tenant: c.var.principal?.tenant,
				principal: c.var.principal?.id,
				durationMs: Date.now() - started,
			}),
		);
	});

	app.get("/healthz", (c) => c.json({ status: "ok" }));
	app.route("/", docsRoutes);

	const limitBody: MiddlewareHandler<AppEnv> = (c, next) => {
		const configured = Number.parseInt(c.env.MAX_REQUEST_BYTES, 10);
		return bodyLimit({
			maxSize: Number.isFinite(configured) ? configured : DEFAULT_MAX_REQUEST_BYTES,
			onError: () => {
				throw new ApiError("payload_too_large", "Request body is too large", { maxBytes: configured });
			},
		})(c, next);
	};
	app.use("/v1/*", limitBody);

	// MCP (Streamable HTTP) with the same keys; a 401 says how to authenticate.
	app.use("/mcp", limitBody, async (c, next) => {
		try {
			await authenticate(c, next);
		} catch (error) {
			if (error instanceof ApiError && error.status === 401) c.header("WWW-Authenticate", 'Bearer realm="edge-context"');
			throw error;
		}
	});
	app.all("/mcp", (c) => serveMcp(c.req.raw, c.env, c.var.principal));
	// Receipts are verified by third parties, who hold no key: the public key is public.
	app.use("/v1/*", (c, next) => (c.req.path === PUBLIC_KEY_PATH ? next() : authenticate(c, next)));
	app.use("/metrics", authenticate);
	app.use("/v1/*", async (c, next) => {
		const type = c.req.header("content-type");
		// Imports are NDJSON documents; every other body is JSON.
		const expected = c.req.path === "/v1/sessions/import" ? "application/x-ndjson" : "application/json";
		if (["POST", "PUT", "PATCH"].includes(c.req.method) && !type?.toLowerCase().startsWith(expected)) {
			throw new ApiError("unsupported_media_type", `Send the body with 'Content-Type: ${expected}'`);
		}
		await next();
	});


	for (const routes of [
		sessionRoutes,
		eventRoutes,
		retractRoutes,
		stateRoutes,
		contextRoutes,
		checkpointRoutes,
		mergeRoutes,
		leaseRoutes,
		blobRoutes,
		workflowRoutes,
		approvalRoutes,
		portabilityRoutes,
		keyRoutes,
		tokenRoutes,
		auditRoutes,
		erasureRoutes,
		metricsRoutes,
		handoffRoutes,
		subagentRoutes,
		searchRoutes,
		graphRoutes,
	]) {
		app.route("/", routes);
	}

	app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
		type: "http",
		scheme: "bearer",
		description: "An API key: the bootstrap ADMIN_API_KEY or one minted with POST /v1/admin/keys",
	});
	app.doc31("/openapi.json", {
		openapi: "3.1.0",
		info: {
			title: "edge-context",
			version: "1.0.0",
			description: "A context layer for AI agents: versioned, recoverable, auditable session context on Cloudflare.",
		},
	});

	const allowed = allowedMethods(app);
	app.notFound((c) => {
		const methods = allowed(c.req.path);
		if (methods.length > 0) {
			c.header("Allow", methods.join(", "));
			return errorResponse(c, new ApiError("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}`, { allow: methods }));
		}
		return errorResponse(c, new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}`));
	});
	app.onError(handleError);
	return app;
}
