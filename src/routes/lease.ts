import { requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import { ApiError, unwrap } from "../errors";
import { KeyHeaders, SessionParams, WriteHeaders } from "../schemas/common";
import { AcquireLeaseBody, Lease } from "../schemas/lease";
import { bearerSecurity, createRouter, errorResponses, json, writeJson, caller } from "./router";
import { sessionApi } from "../operations/session-api";
import { writeResponse } from "./respond";
import { writeOptions } from "./write-options";

export const leaseRoutes = createRouter();

leaseRoutes.openapi(
	createRoute({
		method: "post",
		...requires("write"),
		path: "/v1/sessions/{id}/lease",
		operationId: "acquireLease",
		tags: ["lease"],
		summary: "Acquire or renew the writer lease",
		description:
			"Without `token`: acquires a free or expired lease and returns a new fencing token. With the current `token`: " +
			"renews it. While the lease is held, every write must send `Lease-Token: <token>`.",
		security: bearerSecurity,
		request: {
			params: SessionParams,
			headers: KeyHeaders,
			body: { required: true, content: { "application/json": { schema: AcquireLeaseBody } } },
		},
		responses: { 200: writeJson(Lease, "The lease"), ...errorResponses(404, 409, 410, 413, 415, 422, 423) },
	}),
	async (c) => {
		const result = await sessionApi(c.env, c.var.principal, c.req.valid("param").id).acquireLease(
			caller(c),
			c.req.valid("json"),
			writeOptions(c.req.valid("header")),
		);
		return writeResponse(c, result, 200, () => undefined);
	},
);

leaseRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("write"),
		path: "/v1/sessions/{id}/lease",
		operationId: "releaseLease",
		tags: ["lease"],
		summary: "Release the writer lease",
		security: bearerSecurity,
		request: { params: SessionParams, headers: WriteHeaders.pick({ "lease-token": true }).required() },
		responses: { 200: json(z.object({ released: z.literal(true) }), "Released"), ...errorResponses(404, 409, 410) },
	}),
	async (c) => {
		const token = writeOptions(c.req.valid("header")).leaseToken;
		if (token === undefined) throw new ApiError("validation_failed", "Send the lease's token as Lease-Token");
		return c.json(unwrap(await sessionApi(c.env, c.var.principal, c.req.valid("param").id).releaseLease(caller(c), token)), 200);
	},
);
