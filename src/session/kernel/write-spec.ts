/**
 * What a write is made of, as capabilities describe it to the kernel (write-kernel.ts): its
 * spec, the options the Worker passes with it, and what a commit tells its listeners.
 */
import type { Caller } from "../../auth/scopes";
import type { Failure, Result } from "../../errors";
import type { Json } from "../../schemas/common";
import type { SessionRow } from "../sessions/session-row";
import type { TimerRun } from "./timers";
import type { WriteUploads } from "./uploads";

/**
 * The RPC call a kernel view serves: who asked (their scopes are enforced and their name
 * audited), which operation, and what it touches (for the audit record; never values).
 */
export interface Call {
	caller: Caller;
	operation: string;
	what: Json;
}

/** What the Worker passes along with every write, from the request's headers and body. */
export interface WriteOptions {
	idempotencyKey?: string;
	/** How long the key is remembered: 24 hours (the default) or as long as the session lives. */
	idempotencyRetention?: "24h" | "session";
	expectedVersion?: number;
	leaseToken?: number;
}

/** A write's Idempotency-Key and its retention alone: for writes that take no version or lease guard. */
export function keyOptions(options: WriteOptions): WriteOptions {
	return { idempotencyKey: options.idempotencyKey, idempotencyRetention: options.idempotencyRetention };
}

/** A successful write, flagged when it is the remembered response to an earlier request. */
export type WriteResult<T> = { ok: true; value: T; replayed?: boolean } | Failure;

/**
 * The session state a write needs: `update` an active session (fenced by the lease unless
 * `fenced: false`), `create` no session yet, `erase` an active one regardless of the lease.
 */
export type Precondition = "update" | "create" | "erase";

export interface PrepareStep {
	row: SessionRow | null;
	uploads: WriteUploads;
}

export interface ApplyStep<Plan> {
	plan: Plan;
	/** The session row as the transaction sees it (null only for a create). */
	row: SessionRow | null;
	now: number;
}

export interface WriteSpec<Plan, T> {
	/** Names the operation in idempotency fingerprints. */
	operation: string;
	/** What the request asked for, fingerprinted when an Idempotency-Key is sent. */
	input?: unknown;
	options?: WriteOptions;
	precondition?: Precondition;
	fenced?: boolean;
	/** Whether the write may run while the session is paused (resume, decisions, upkeep). */
	whilePaused?: boolean;
	/** Whether the write may run on a closed session (a subagent's, after its outcome): the service's own upkeep only. */
	whileClosed?: boolean;
	/** Where uploads go: the session's own prefix (needed before a create has a row). */
	owner?: { tenant: string; sessionId: string };
	/** The facts the plan rests on, read synchronously; a change by commit time re-plans. */
	basis?: () => unknown;
	prepare?: (step: PrepareStep) => Promise<Plan | Failure>;
	/** The change itself, inside the transaction. A Failure rolls the whole write back. */
	apply: (step: ApplyStep<Plan>) => Result<T>;
	/** The timer whose work this is: completed in the same transaction. */
	timer?: TimerRun;
}

export interface Commit {
	operation: string;
	version: number;
}
