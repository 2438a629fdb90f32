/**
 * Bearer authentication, for API keys and scoped tokens alike.
 *
 * - The bootstrap key (secret ADMIN_API_KEY) is checked without D1.
 * - Minted keys are looked up in D1 and cached briefly in the isolate, so a short D1 outage
 *   does not lock out agents that were already working (writes never need D1).
 * - Tokens are verified by signature alone (tokens.ts); revocations are a list each isolate
 *   polls (revocations.ts).
 * A revocation takes effect at once in the isolate that served it and within
 * REVOCATION_BOUND_MS everywhere.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Principal } from "../app-env";
import { type ApiKeyRow, findApiKey } from "../db/api-keys";
import { ApiError } from "../errors";
import { Scopes } from "../schemas/scopes";
import { digestsEqual, hexToBytes, keyIdOf, keyScopes, sha256 } from "./api-keys";
import { isRevoked, REVOCATION_BOUND_MS } from "./revocations";
import { operationsOf } from "./scopes";
import { looksLikeToken, verifyToken } from "./tokens";

/** How long a key row read from D1 is trusted, and so how late a key revocation may arrive. */
const CACHE_TTL_MS = REVOCATION_BOUND_MS;
/** How long a cached key may stand in for D1 while D1 is failing. */
const STALE_IF_ERROR_MS = 10 * 60_000;

const cache = new Map<string, { row: ApiKeyRow; fetchedAt: number }>();

export function forgetCachedKey(id: string): void {
	cache.delete(id);
}

async function lookUp(database: D1Database, id: string, now: number): Promise<ApiKeyRow | undefined> {
	const cached = cache.get(id);
	if (cached && now - cached.fetchedAt < CACHE_TTL_MS) return cached.row;
	try {
		const row = await findApiKey(database, id);
		if (row) cache.set(id, { row, fetchedAt: now });
		else cache.delete(id);
		return row;
	} catch (error) {
		if (cached && now - cached.fetchedAt < STALE_IF_ERROR_MS) return cached.row;
		console.error(JSON.stringify({ level: "error", msg: "api key lookup failed", error: String(error) }));
		throw new ApiError("dependency_unavailable", "Cannot verify the API key right now; retry");
	}
}

/** The bootstrap key's digest, computed once per isolate rather than on every request. */
let bootstrapDigest: { key: string; digest: Promise<Uint8Array> } | null = null;

function digestOfBootstrap(key: string): Promise<Uint8Array> {
	if (bootstrapDigest?.key !== key) bootstrapDigest = { key, digest: sha256(key) };
	return bootstrapDigest.digest;
}

async function verifyKey(env: Env, presented: string): Promise<Principal> {
	const digest = await sha256(presented);
	const bootstrap = env.ADMIN_API_KEY;
	if (bootstrap && bootstrap.length >= 16 && digestsEqual(digest, await digestOfBootstrap(bootstrap))) {
		return { tenant: env.ADMIN_TENANT, id: "bootstrap", scopes: Scopes.parse({ operations: operationsOf("admin") }), agent: null, chain: [], expiresAt: null, requestId: null };
	}
	const id = keyIdOf(presented);
	const row = id ? await lookUp(env.DB, id, Date.now()) : undefined;
	if (!row || row.revokedAt !== null || !digestsEqual(digest, hexToBytes(row.hash))) {
		throw new ApiError("unauthorized", "Invalid or revoked API key");
	}
	return { tenant: row.tenant, id: `key:${row.id}`, scopes: keyScopes(row), agent: row.agent, chain: [], expiresAt: null, requestId: null };
}

async function verifyBearer(env: Env, presented: string): Promise<Principal> {
	if (!looksLikeToken(presented)) return verifyKey(env, presented);
	const claims = await verifyToken(env, presented);
	if (await isRevoked(env.DB, claims.tenant, claims.id)) throw new ApiError("token_revoked", "The token was revoked");
	for (const link of claims.chain) {
		if (await ancestorRevoked(env, claims.tenant, link)) throw new ApiError("token_revoked", `The token was minted by ${link}, which was revoked`);
	}
	return { tenant: claims.tenant, id: `token:${claims.id}`, scopes: claims.scopes, agent: claims.agent, chain: claims.chain, expiresAt: claims.expiresAt, requestId: null };
}

/** Whether a credential a token descends from was revoked (keys: through the cached key row). */
async function ancestorRevoked(env: Env, tenant: string, link: string): Promise<boolean> {
	const [kind, id] = [link.slice(0, link.indexOf(":")), link.slice(link.indexOf(":") + 1)];
	if (kind === "token") return isRevoked(env.DB, tenant, id);
	if (kind === "key") {
		const row = await lookUp(env.DB, id, Date.now());
		return !row || row.revokedAt !== null;
	}
	return false;
}

/** Sets `principal` from `Authorization: Bearer <key or token>`, or answers 401. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
	const header = c.req.header("authorization");
	const presented = header?.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : null;
	if (!presented) throw new ApiError("unauthorized", "Send an API key or token as 'Authorization: Bearer <key>'");
	c.set("principal", { ...(await verifyBearer(c.env, presented)), requestId: c.var.requestId ?? null });
	await next();
};
