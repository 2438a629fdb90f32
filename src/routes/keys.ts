import { requires } from "../auth/authorize";
import { createRoute, z } from "@hono/zod-openapi";
import type { Principal } from "../app-env";
import { keyScopes, mintKey, sha256, toHex } from "../auth/api-keys";
import { operationsOf, widening } from "../auth/scopes";
import { Scopes } from "../schemas/scopes";
import { forgetCachedKey } from "../auth/authenticate";
import { type ApiKeyRow, insertApiKey, listApiKeys, revokeApiKey } from "../db/api-keys";
import { ApiError } from "../errors";
import { ApiKeyInfo, CreatedKey, CreateKeyBody, KeyParams } from "../schemas/keys";
import { RetentionPolicy } from "../schemas/sessions";
import { setTenantRetention, tenantRetention } from "../db/settings";
import { bearerSecurity, createRouter, errorResponses, json } from "./router";

export const keyRoutes = createRouter();

const TenantRetention = z.object({ retention: RetentionPolicy.nullable() }).strict().openapi("TenantRetention");

/** The bootstrap key manages every tenant's keys; a minted admin key only its own tenant's. */
function managedTenant(principal: Principal): string | null {
	return principal.id === "bootstrap" ? null : principal.tenant;
}

function toInfo(row: ApiKeyRow): z.infer<typeof ApiKeyInfo> {
	return {
		id: row.id,
		tenant: row.tenant,
		role: row.role,
		name: row.name,
		scopes: keyScopes(row),
		agent: row.agent,
		createdAt: new Date(row.createdAt).toISOString(),
		revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt).toISOString(),
	};
}

async function withIndex<T>(work: () => Promise<T>): Promise<T> {
	try {
		return await work();
	} catch (error) {
		if (error instanceof ApiError) throw error;
		console.error(JSON.stringify({ level: "error", msg: "api key store failed", error: String(error) }));
		throw new ApiError("dependency_unavailable", "The key store (D1) is unavailable; retry");
	}
}

keyRoutes.openapi(
	createRoute({
		method: "post",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/keys",
		operationId: "createApiKey",
		tags: ["admin"],
		summary: "Mint an API key for a tenant and role",
		security: bearerSecurity,
		request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
		responses: { 201: json(CreatedKey, "The key, shown only this once"), ...errorResponses(413, 415, 503) },
	}),
	async (c) => {
		const body = c.req.valid("json");
		const principal = c.var.principal;
		const scope = managedTenant(principal);
		const tenant = body.tenant ?? principal.tenant;
		if (scope !== null && tenant !== scope) throw new ApiError("forbidden", "An admin key can only mint keys for its own tenant");
		// A key does not expire: a token minting one would outlive itself.
		if (principal.expiresAt !== null) throw new ApiError("operation_out_of_scope", "A token cannot mint API keys; use an API key", { needs: "key" });
		const requested = Scopes.parse({ operations: operationsOf(body.role), ...body.scopes });
		const wider = widening(principal.scopes, requested);
		const agent = body.agent ?? principal.agent;
		if (principal.agent !== null && agent !== principal.agent) wider.push(`agent (the minter acts as ${principal.agent})`);
		if (wider.length > 0) throw new ApiError("scope_widening", "A key cannot be minted with more than its minter may do", { widening: wider });
		const { id, key } = mintKey();
		const row = await withIndex(async () =>
			insertApiKey(c.env.DB, {
				id,
				tenant,
				role: body.role,
				name: body.name ?? null,
				scopes: body.scopes ? JSON.stringify({ sessions: requested.sessions, namespaces: requested.namespaces }) : null,
				agent,
				hash: toHex(await sha256(key)),
				createdAt: Date.now(),
			}),
		);
		return c.json({ ...toInfo(row), key }, 201);
	},
);

keyRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/keys",
		operationId: "listApiKeys",
		tags: ["admin"],
		summary: "List API keys (never their secrets)",
		security: bearerSecurity,
		responses: { 200: json(z.object({ keys: z.array(ApiKeyInfo) }), "Keys"), ...errorResponses(503) },
	}),
	async (c) => {
		const rows = await withIndex(() => listApiKeys(c.env.DB, managedTenant(c.var.principal)));
		return c.json({ keys: rows.map(toInfo) }, 200);
	},
);

keyRoutes.openapi(
	createRoute({
		method: "delete",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/keys/{keyId}",
		operationId: "revokeApiKey",
		tags: ["admin"],
		summary: "Revoke an API key",
		security: bearerSecurity,
		request: { params: KeyParams },
		responses: { 200: json(ApiKeyInfo, "Revoked"), ...errorResponses(404, 503) },
	}),
	async (c) => {
		const { keyId } = c.req.valid("param");
		const row = await withIndex(() => revokeApiKey(c.env.DB, keyId, managedTenant(c.var.principal), Date.now()));
		if (!row) throw new ApiError("not_found", "No such API key");
		forgetCachedKey(keyId);
		return c.json(toInfo(row), 200);
	},
);


keyRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/retention",
		operationId: "getTenantRetention",
		tags: ["admin"],
		summary: "The retention a new session of this tenant gets when its policy names none",
		security: bearerSecurity,
		responses: { 200: json(TenantRetention, "The tenant's default"), ...errorResponses(503) },
	}),
	async (c) => c.json({ retention: await withIndex(() => tenantRetention(c.env.DB, c.var.principal.tenant)) }, 200),
);

keyRoutes.openapi(
	createRoute({
		method: "put",
		...requires("admin", { tenantWide: true }),
		path: "/v1/admin/retention",
		operationId: "putTenantRetention",
		tags: ["admin"],
		summary: "Set the tenant's default retention (null: keep sessions)",
		description: "Applies to sessions created from now on (within 30 seconds everywhere); a session's own policy.retention wins.",
		security: bearerSecurity,
		request: { body: { required: true, content: { "application/json": { schema: TenantRetention } } } },
		responses: { 200: json(TenantRetention, "Stored"), ...errorResponses(413, 415, 503) },
	}),
	async (c) => {
		const { retention } = c.req.valid("json");
		await withIndex(() => setTenantRetention(c.env.DB, c.var.principal.tenant, retention));
		return c.json({ retention }, 200);
	},
);
