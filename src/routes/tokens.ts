/**
 * Minting and revoking scoped tokens. A token is never wider than its minter: the operations,
 * sessions, namespaces, delegation, agent and lifetime it asks for must all be within the
 * minter's own (a token minting a token included).
 */
import { createRoute } from "@hono/zod-openapi";
import { requires } from "../auth/authorize";
import { REVOCATION_BOUND_MS, noteRevoked } from "../auth/revocations";
import { widening } from "../auth/scopes";
import { MAX_TOKEN_TTL_SECONDS, newTokenId, signToken } from "../auth/tokens";
import { revokeToken } from "../db/tokens";
import { ApiError } from "../errors";
import { CreatedToken, CreateTokenBody, RevokedToken, TokenParams } from "../schemas/scopes";
import { bearerSecurity, createRouter, errorResponses, json } from "./router";

export const tokenRoutes = createRouter();

/** Delegation depth kept in a token (its oldest ancestors first dropped). */
const MAX_CHAIN = 8;

tokenRoutes.openapi(
	createRoute({
		method: "post",
		// Any credential may ask; only an admin or one minted with `delegate` gets a token.
		...requires("read"),
		path: "/v1/tokens",
		operationId: "createToken",
		tags: ["governance"],
		summary: "Mint a short-lived token with narrower scopes",
		description:
			"For an agent or subagent that should only reach some sessions or namespaces, or only read. Verified by signature " +
			"(no D1 lookup per request); revocation reaches every Worker within 30 seconds.",
		security: bearerSecurity,
		request: { body: { required: true, content: { "application/json": { schema: CreateTokenBody } } } },
		responses: { 201: json(CreatedToken, "The token, shown only this once"), ...errorResponses(413, 415, 503) },
	}),
	async (c) => {
		const minter = c.var.principal;
		if (!minter.scopes.operations.includes("admin") && !minter.scopes.delegate) {
			throw new ApiError("operation_out_of_scope", "Only an admin or a credential minted with delegate may mint tokens", { needs: "delegate" });
		}
		const body = c.req.valid("json");
		const now = Date.now();
		const expiresAt = now + body.ttlSeconds * 1000;
		const problems = widening(minter.scopes, body.scopes);
		if (minter.expiresAt !== null && expiresAt > minter.expiresAt) problems.push("expiry (beyond the minter's own)");
		if (minter.agent !== null && body.agent !== undefined && body.agent !== minter.agent) problems.push(`agent (the minter acts as ${minter.agent})`);
		if (problems.length > 0) throw new ApiError("scope_widening", "A token cannot be wider than its minter", { widening: problems });
		const chain = minter.id === "bootstrap" ? [] : [...minter.chain, minter.id].slice(-MAX_CHAIN);
		const claims = { id: newTokenId(), tenant: minter.tenant, scopes: body.scopes, agent: body.agent ?? minter.agent, issuedBy: minter.id, chain, expiresAt };
		const token = await signToken(c.env, claims);
		const { chain: _chain, ...shown } = claims;
		return c.json({ ...shown, expiresAt: new Date(expiresAt).toISOString(), token }, 201);
	},
);

tokenRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("admin", { tenantWide: true }),
		path: "/v1/tokens/{tokenId}",
		operationId: "revokeToken",
		tags: ["governance"],
		summary: "Revoke a token by id",
		description: "Refused at once by the Worker that served this, and by every other within 30 seconds.",
		security: bearerSecurity,
		request: { params: TokenParams },
		responses: { 200: json(RevokedToken, "Revoked"), ...errorResponses(503) },
	}),
	async (c) => {
		const { tokenId } = c.req.valid("param");
		const tenant = c.var.principal.tenant;
		const now = Date.now();
		let revokedAt: number;
		try {
			// A token lives at most MAX_TOKEN_TTL_SECONDS: after that the entry can go.
			revokedAt = (await revokeToken(c.env.DB, { tenant, id: tokenId, revokedAt: now, expiresAt: now + MAX_TOKEN_TTL_SECONDS * 1000 })).revokedAt;
		} catch (error) {
			console.error(JSON.stringify({ level: "error", msg: "token revocation failed", error: String(error) }));
			throw new ApiError("dependency_unavailable", "The revocation list (D1) is unavailable; retry");
		}
		noteRevoked(tenant, tokenId);
		return c.json({ id: tokenId, revokedAt: new Date(revokedAt).toISOString(), effectiveWithinSeconds: REVOCATION_BOUND_MS / 1000 }, 200);
	},
);
