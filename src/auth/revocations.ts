/**
 * Revoked tokens. Verifying a token needs no D1 round trip per request: each isolate keeps the
 * list of revoked, still-unexpired token ids and re-reads it when it is older than
 * REVOCATION_BOUND_MS, so a revocation reaches every isolate within that bound (the one that
 * served it at once). While D1 is failing a list up to STALE_IF_ERROR_MS old stands in;
 * after that tokens are refused with 503 rather than trusted blindly.
 */
import { listRevokedTokens } from "../db/tokens";
import { ApiError } from "../errors";

export const REVOCATION_BOUND_MS = 30_000;
const STALE_IF_ERROR_MS = 10 * 60_000;

let known: { ids: Set<string>; fetchedAt: number } | null = null;
let refreshing: Promise<Set<string>> | null = null;

async function refresh(database: D1Database, now: number): Promise<Set<string>> {
	try {
		const ids = new Set(await listRevokedTokens(database, now));
		known = { ids, fetchedAt: now };
		return ids;
	} catch (error) {
		if (known && now - known.fetchedAt < STALE_IF_ERROR_MS) return known.ids;
		console.error(JSON.stringify({ level: "error", msg: "revocation list unavailable", error: String(error) }));
		throw new ApiError("dependency_unavailable", "Cannot check token revocations right now; retry");
	}
}

/** Revocations made by this isolate, kept even if a list read before them arrives later. */
const locallyRevoked = new Set<string>();

/** Whether the tenant revoked the token (ids are per tenant: another tenant cannot revoke it). */
export async function isRevoked(database: D1Database, tenant: string, tokenId: string): Promise<boolean> {
	const name = `${tenant}/${tokenId}`;
	if (locallyRevoked.has(name)) return true;
	const now = Date.now();
	if (known && now - known.fetchedAt < REVOCATION_BOUND_MS) return known.ids.has(name);
	refreshing ??= refresh(database, now).finally(() => {
		refreshing = null;
	});
	return (await refreshing).has(name);
}

export function noteRevoked(tenant: string, tokenId: string): void {
	locallyRevoked.add(`${tenant}/${tokenId}`);
}
