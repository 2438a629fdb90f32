/**
 * The writer lease. Tokens come from one counter that only grows (the row survives release),
 * so a token identifies one tenure: a replica holding an older token is fenced off.
 */
import type { Failure } from "../../errors";
import { fail } from "../../errors";

export interface LeaseRow {
	holder: string;
	token: number;
	expires_at: number;
}

export function readLease(sql: SqlStorage): LeaseRow | null {
	return sql.exec<LeaseRow & Record<string, SqlStorageValue>>("SELECT holder, token, expires_at FROM lease").toArray()[0] ?? null;
}

export function activeLease(sql: SqlStorage, now: number): LeaseRow | null {
	const lease = readLease(sql);
	return lease && lease.expires_at > now ? lease : null;
}

/** Whether a write presenting `token` may proceed under the current lease. */
export function checkFence(sql: SqlStorage, token: number | undefined, now: number): Failure | null {
	const lease = readLease(sql);
	const active = lease && lease.expires_at > now;
	if (token === undefined) {
		if (!active) return null;
		return fail("lease_held", `Session is leased by ${lease.holder}; send its Lease-Token`, {
			holder: lease.holder,
			expiresAt: new Date(lease.expires_at).toISOString(),
		});
	}
	if (!lease || token !== lease.token) {
		return fail("lease_token_stale", "Lease-Token is not the current lease's token", { currentToken: lease?.token ?? null });
	}
	if (!active) return fail("lease_expired", "The lease for this Lease-Token has expired; acquire it again");
	return null;
}

/** Grants a free or expired lease with a new token, or renews one for the holder of its token. */
export function acquire(
	sql: SqlStorage,
	request: { holder: string; ttlSeconds: number; token?: number },
	now: number,
): LeaseRow | Failure {
	const lease = readLease(sql);
	const active = lease !== null && lease.expires_at > now;
	const expiresAt = now + request.ttlSeconds * 1000;
	if (request.token !== undefined) {
		if (!lease || request.token !== lease.token) {
			return fail("lease_token_stale", "Token is not the current lease's token", { currentToken: lease?.token ?? null });
		}
		if (!active) return fail("lease_expired", "The lease has expired; acquire it again without a token");
		sql.exec("UPDATE lease SET expires_at = ?", expiresAt);
		return { holder: lease.holder, token: lease.token, expires_at: expiresAt };
	}
	if (active) {
		return fail("lease_held", `Session is leased by ${lease.holder}`, {
			holder: lease.holder,
			expiresAt: new Date(lease.expires_at).toISOString(),
		});
	}
	const token = (lease?.token ?? 0) + 1;
	sql.exec(
		`INSERT INTO lease (singleton, holder, token, expires_at) VALUES (1, ?, ?, ?)
		 ON CONFLICT (singleton) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at`,
		request.holder,
		token,
		expiresAt,
	);
	return { holder: request.holder, token, expires_at: expiresAt };
}

export function release(sql: SqlStorage, token: number, now: number): Failure | null {
	const fence = checkFence(sql, token, now);
	if (fence) return fence;
	sql.exec("UPDATE lease SET expires_at = 0");
	return null;
}
