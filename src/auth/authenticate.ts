/**
 * Bearer-key authentication. The bootstrap key (secret ADMIN_API_KEY) is checked without D1;
 * minted keys are looked up in D1 and cached briefly in the isolate, so a short D1 outage does
 * not lock out agents that were already working (writes never need D1). A revocation takes
 * effect at once in the isolate that served it, and within CACHE_TTL_MS everywhere.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Principal } from "../app-env";
import { type ApiKeyRow, findApiKey } from "../db/api-keys";
import { ApiError } from "../errors";
import type { Role } from "../schemas/keys";
import { digestsEqual, hexToBytes, keyIdOf, sha256 } from "./api-keys";

const CACHE_TTL_MS = 30_000;
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

async function verify(env: Env, presented: string): Promise<Principal | null> {
	const digest = await sha256(presented);
	const bootstrap = env.ADMIN_API_KEY;
	if (bootstrap && bootstrap.length >= 16 && digestsEqual(digest, await digestOfBootstrap(bootstrap))) {
		return { tenant: env.ADMIN_TENANT, role: "admin", keyId: "bootstrap" };
	}
	const id = keyIdOf(presented);
	if (!id) return null;
	const row = await lookUp(env.DB, id, Date.now());
	if (!row || row.revokedAt !== null || !digestsEqual(digest, hexToBytes(row.hash))) return null;
	return { tenant: row.tenant, role: row.role, keyId: row.id };
}

/** Sets `principal` from `Authorization: Bearer <key>`, or answers 401. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
	const header = c.req.header("authorization");
	const presented = header?.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : null;
	if (!presented) throw new ApiError("unauthorized", "Send an API key as 'Authorization: Bearer <key>'");
	const principal = await verify(c.env, presented);
	if (!principal) throw new ApiError("unauthorized", "Invalid or revoked API key");
	c.set("principal", principal);
	await next();
};

const rank: Record<Role, number> = { reader: 0, writer: 1, admin: 2 };

/** Readers may read; writes need writer or admin; key management needs admin. */
export function requireRole(needed: Role): MiddlewareHandler<AppEnv> {
	return async (c, next) => {
		const { role } = c.get("principal");
		if (rank[role] < rank[needed]) throw new ApiError("forbidden", `This key's role (${role}) cannot do this; needs ${needed}`);
		await next();
	};
}

/** Writes need writer; everything else is a read. */
export const authorizeByMethod: MiddlewareHandler<AppEnv> = async (c, next) => {
	const needed: Role = c.req.method === "GET" || c.req.method === "HEAD" ? "reader" : "writer";
	return requireRole(needed)(c, next);
};
