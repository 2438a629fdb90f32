import { createRoute, z } from "@hono/zod-openapi";
import { requires } from "../auth/authorize";
import { publicKeyOf, subjectHash } from "../erasure/receipts";
import { ApiError, type Result, unwrap } from "../errors";
import { newSessionId } from "../operations/session-ids";
import { WriteHeaders } from "../schemas/common";
import { Erasure, ErasureParams, StartErasureBody, SubjectParams } from "../schemas/erasure";
import { bearerSecurity, createRouter, errorResponses, json } from "./router";

export const erasureRoutes = createRouter();

export const PUBLIC_KEY_PATH = "/v1/erasures/public-key";

const PublicKeySet = z
	.object({
		keys: z.array(z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string(), kid: z.string(), alg: z.literal("EdDSA"), use: z.literal("sig") })),
	})
	.openapi("ErasurePublicKeys");

erasureRoutes.openapi(
	createRoute({
		method: "get",
		"x-required-operation": "read",
		path: PUBLIC_KEY_PATH,
		operationId: "getErasurePublicKey",
		tags: ["governance"],
		summary: "The public key that verifies erasure receipts (no key needed)",
		description:
			"A JWK set with one Ed25519 key. A receipt verifies when Ed25519-verify(key, signature.value, canonical JSON of the receipt) holds; " +
			"canonical JSON sorts object keys at every level and has no whitespace.",
		responses: { 200: json(PublicKeySet, "The key set"), 503: errorResponses(503)[503] },
	}),
	async (c) => {
		try {
			return c.json({ keys: [await publicKeyOf(c.env.ERASURE_SIGNING_KEY)] }, 200);
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "erasure signing key unusable", error: String(error) }));
			throw new ApiError("dependency_unavailable", "Erasure receipts are not configured (secret ERASURE_SIGNING_KEY)");
		}
	},
);

erasureRoutes.openapi(
	createRoute({
		method: "post",
		...requires("admin"),
		path: "/v1/subjects/{subject}/erasure",
		operationId: "eraseSubject",
		tags: ["governance"],
		summary: "Erase every session of a data subject, everywhere, with a signed receipt",
		description:
			"Finds the subject's sessions through the index and erases each from its object's storage (wiped with deleteAll), the D1 index, " +
			"the audit trail's content and R2. Runs in the background until every store has answered, retrying while D1 or R2 are down; " +
			"poll `GET /v1/erasures/{id}`. A subject with no sessions completes with an empty receipt. With an Idempotency-Key a retry " +
			"returns the same erasure.",
		security: bearerSecurity,
		request: {
			params: SubjectParams,
			headers: WriteHeaders.pick({ "idempotency-key": true }),
			body: { required: true, content: { "application/json": { schema: StartErasureBody } } },
		},
		responses: { 202: json(Erasure, "Started (or the erasure this Idempotency-Key started)"), ...errorResponses(413, 415, 503) },
	}),
	async (c) => {
		const { subject } = c.req.valid("param");
		const principal = c.var.principal;
		if (principal.scopes.namespaces !== null) throw new ApiError("namespace_out_of_scope", "An erasure covers every namespace; this credential is limited to some");
		if (!principal.scopes.sessions.includes("*") && !principal.scopes.sessions.includes(`subject=${subject}`)) {
			throw new ApiError("session_out_of_scope", "This credential may not reach every session of this subject", { subject });
		}
		// Nothing is erased that could not be receipted.
		await publicKeyOf(c.env.ERASURE_SIGNING_KEY).catch(() => {
			throw new ApiError("dependency_unavailable", "Erasure receipts are not configured (secret ERASURE_SIGNING_KEY)");
		});
		const key = c.req.valid("header")["idempotency-key"];
		const id = `era_${(await newSessionId(key ? `erasure\n${principal.tenant}\n${key}` : undefined)).slice(4, 28)}`;
		const started: Result<Erasure> = await c.env.ERASURE.getByName(`${principal.tenant}/${id}`).start({
			id,
			tenant: principal.tenant,
			subject,
			subjectHash: await subjectHash(principal.tenant, subject),
			mode: c.req.valid("json").mode,
			publicKeyUrl: new URL(PUBLIC_KEY_PATH, c.req.url).toString(),
		});
		c.header("Location", `/v1/erasures/${id}`);
		return c.json(unwrap(started), 202);
	},
);

erasureRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/v1/erasures/{erasureId}",
		operationId: "getErasure",
		tags: ["governance"],
		summary: "An erasure's progress and, once complete, its signed receipt",
		security: bearerSecurity,
		request: { params: ErasureParams },
		responses: { 200: json(Erasure, "The erasure"), ...errorResponses(404) },
	}),
	async (c) => {
		const status: Result<Erasure> = await c.env.ERASURE.getByName(`${c.var.principal.tenant}/${c.req.valid("param").erasureId}`).status();
		return c.json(unwrap(status), 200);
	},
);
