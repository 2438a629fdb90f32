/**
 * Lease changes go through the write kernel like any write but do not bump the session
 * version: they change who may write, not what the session holds.
 */
import { ok, type Result } from "../../errors";
import type { AcquireLeaseBody, Lease } from "../../schemas/lease";
import type { SessionContext } from "../kernel/session-context";
import { keyOptions, type WriteOptions, type WriteResult } from "../kernel/write-spec";
import { acquire, release } from "./lease";

/** Acquires the writer lease (new fencing token), or renews it when `token` is the current one. */
export function acquireLease(session: SessionContext, body: AcquireLeaseBody, options: WriteOptions): Promise<WriteResult<Lease>> {
	return session.kernel.write({
		operation: "lease",
		input: body,
		options: keyOptions(options),
		fenced: false,
		apply: ({ now }) => {
			const granted = acquire(session.sql, body, now);
			if ("ok" in granted) return granted;
			return ok({ holder: granted.holder, token: granted.token, expiresAt: new Date(granted.expires_at).toISOString() });
		},
	});
}

/** Ends the lease held with `token`; anyone may then write or acquire it. */
export function releaseLease(session: SessionContext, token: number): Promise<Result<{ released: true }>> {
	return session.kernel.write({
		operation: "release_lease",
		fenced: false,
		whilePaused: true,
		apply: ({ now }) => release(session.sql, token, now) ?? ok({ released: true as const }),
	});
}
