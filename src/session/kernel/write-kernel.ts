/**
 * The one path every change to a session takes: RPC writes and timer runs alike.
 *
 *   1. fingerprint  the request, only when it carries an Idempotency-Key;
 *   2. guard        synchronously: the session is in the state the write needs, a retried key
 *                   gets its first response, the lease fence, expectedVersion;
 *   3. basis        in the same synchronous turn: the facts the plan will rest on;
 *   4. prepare      async: reads, R2 uploads (tracked), tokenizer;
 *   5. commit       one transactionSync that re-runs the guard, re-checks the basis, completes
 *                   the timer being run, applies, remembers the idempotent response;
 *   6. afterwards   uploads of a refused commit are swept, the alarm is armed, the commit
 *                   listeners are told.
 * Nothing observed before an await is trusted after it: a stale basis re-plans (a bounded
 * number of times, then 409), a guard that now refuses rolls everything back. Expected
 * failures are data (RPC drops error properties); a refusal inside the transaction is thrown
 * only to roll it back, and caught here.
 */
import type { BlobStore } from "../../blobs/blob-store";
import { admitsSession } from "../../auth/scopes";
import { type Failure, fail, type Result } from "../../errors";
import type { Json } from "../../schemas/common";
import * as audit from "../audit/audit";
import * as idempotency from "../idempotency/idempotency";
import { checkFence } from "../lease/lease";
import { schedulePurge } from "../projection/drain";
import { readSession, type SessionRow } from "../sessions/session-row";
import { dependencyFailure, isFailure, outOfScope, sessionDeleted, sessionNotFound } from "./failures";
import * as timers from "./timers";
import { UploadLedger, WriteUploads } from "./uploads";
import type { Call, Commit, WriteOptions, WriteResult, WriteSpec } from "./write-spec";

/** What the guard reads of a write's spec. */
type GuardSpec = Pick<WriteSpec<unknown, unknown>, "options" | "precondition" | "fenced" | "whilePaused" | "whileClosed">;


/** How many times a write re-plans on a changed basis before answering 409. */
const MAX_PLANS = 3;

class Refusal {
	constructor(readonly result: WriteResult<never> | { ok: true; value: unknown; replayed: true }) {}
}
class StaleBasis {}

/** What every view of one object's kernel shares. */
class KernelCore {
	readonly ledger = new UploadLedger();
	readonly listeners: Array<(commit: Commit) => void> = [];
	row: SessionRow | null | undefined;
	armedFor: number | null = null;
	dispatch: ((run: timers.TimerRun) => Promise<void>) | null = null;
}

export class WriteKernel {
	readonly #core: KernelCore;
	readonly #call: Call | null;

	constructor(
		private readonly storage: DurableObjectStorage,
		private readonly blobs: () => BlobStore,
		private readonly references: (key: string) => boolean,
		core?: KernelCore,
		call?: Call,
	) {
		this.#core = core ?? new KernelCore();
		this.#call = call ?? null;
	}

	/**
	 * A view of this kernel serving one RPC call: its writes and reads are refused outside the
	 * caller's session scope and leave audit records naming the caller. Timers use the kernel
	 * itself, audited as `system`.
	 */
	as(call: Call): WriteKernel {
		return new WriteKernel(this.storage, this.blobs, this.references, this.#core, call);
	}

	get sql(): SqlStorage {
		return this.storage.sql;
	}

	/**
	 * Called once the constructor has migrated the schema and read the alarm the runtime has
	 * armed: claims held by a previous instance are released (it runs nothing any more).
	 */
	start(armedFor: number | null, dispatch: (run: timers.TimerRun) => Promise<void>): void {
		this.#core.armedFor = armedFor;
		this.#core.dispatch = dispatch;
		timers.releaseStaleClaims(this.sql, Date.now());
	}

	/**
	 * Runs every due timer once, each by its kind's handler. A handler's work commits through
	 * write() with the run attached, completing the timer in the same transaction; one that
	 * returns without committing anything has nothing to do and completes here. A handler
	 * that throws leaves its timer to be retried with backoff (parked after the cap).
	 */
	async runDueTimers(now: number): Promise<void> {
		for (const row of timers.dueTimers(this.sql, now)) {
			const run = this.transaction(() => timers.claim(this.sql, row, Date.now()));
			const dispatch = this.#core.dispatch;
			if (!run || !dispatch) continue;
			try {
				await dispatch(run);
				if (!run.completed) this.transaction(() => timers.complete(this.sql, run));
			} catch (error) {
				const message = error instanceof Error ? error.message : String(error);
				const { retryAt } = this.transaction(() => timers.fail(this.sql, run, message, Date.now()));
				const log = { level: "warn", msg: retryAt === null ? "timer parked" : "timer failed, will retry", kind: run.kind, key: run.key, attempts: run.attempts + 1, retryAt, error: message };
				console.warn(JSON.stringify(log));
			}
		}
		await this.armAlarm();
	}

	/** The session row, cached between writes (every change to it commits through here). */
	session(): SessionRow | null {
		if (this.#core.row === undefined) this.#core.row = readSession(this.sql);
		return this.#core.row;
	}

	/** The session row if it exists and is not deleted, else the failure a read returns. */
	readable(): SessionRow | Failure {
		const row = this.session();
		if (!row) return sessionNotFound();
		if (row.status === "deleted") return sessionDeleted(row);
		return row;
	}

	/**
	 * The row if the call's caller may reach this session: a `subject=` scope is decided here,
	 * where the subject is known.
	 */
	admitted(): SessionRow | Failure {
		const row = this.readable();
		if (!("id" in row) || !this.#call) return row;
		if (!admitsSession(this.#call.caller.sessions, row.id, row.subject)) return outOfScope(row.id);
		return row;
	}

	/**
	 * Runs a read of an existing session and records that it was served. A read that awaits
	 * R2 can see the session deleted under it (its archive purged): it then answers as the
	 * session now is, never a 500. `versionOf` names the version served when it is not the
	 * current one (a window rebuilt `at` an earlier version).
	 */
	async read<T>(work: (row: SessionRow) => Result<T> | Promise<Result<T>>, versionOf?: (value: T) => number): Promise<Result<T>> {
		const row = this.admitted();
		if (!("id" in row)) return row;
		let result: Result<T>;
		try {
			result = await work(row);
		} catch (error) {
			const now = this.readable();
			if (!("id" in now)) return now;
			return dependencyFailure(error);
		}
		if (!result.ok) return result;
		// Deleted or erased while the read awaited R2: answer as the session now is, unrecorded.
		const now = this.admitted();
		if (!("id" in now)) return now;
		this.recordRead(versionOf?.(result.value) ?? row.version);
		return result;
	}

	/** Audits a read served outside read() (the live feed's batches); no-op for the kernel itself. */
	recordRead(version: number, what?: Json): void {
		const call = this.#call;
		if (!call) return;
		this.transaction(() => audit.record(this.sql, { caller: call.caller, operation: call.operation, version, what: what ?? call.what }, Date.now()));
		void this.armAlarm();
	}

	/** Registers a listener told of every committed write (live subscriptions broadcast from it). */
	onCommit(listener: (commit: Commit) => void): void {
		this.#core.listeners.push(listener);
	}

	/** Runs one write through the guard, its plan and one transaction; see the header. */
	async write<Plan, T>(spec: WriteSpec<Plan, T>): Promise<WriteResult<T>> {
		const options = spec.options ?? {};
		const fingerprint = options.idempotencyKey ? await idempotency.fingerprintOf(spec.operation, spec.input ?? null) : "";
		for (let plan = 0; plan < MAX_PLANS; plan++) {
			const early = this.#guard<T>(spec, fingerprint, Date.now());
			if (early) return early;
			const basis = spec.basis ? JSON.stringify(spec.basis()) : null;
			const row = this.session();
			const owner = spec.owner ?? (row ? { tenant: row.tenant, sessionId: row.id } : null);
			// Only a write that prepares can upload anything.
			const uploads = spec.prepare && owner ? new WriteUploads(this.blobs(), this.#core.ledger, owner) : null;
			let prepared: Plan | Failure = undefined as Plan;
			if (spec.prepare) {
				if (!uploads) throw new Error(`${spec.operation}: prepare needs an owner for its uploads`);
				try {
					prepared = await spec.prepare({ row, uploads });
				} catch (error) {
					await this.#refused(uploads, owner);
					return this.#guard<T>(spec, fingerprint, Date.now()) ?? dependencyFailure(error);
				}
				if (isFailure(prepared)) {
					await this.#refused(uploads, owner);
					return prepared;
				}
			}
			try {
				let version = 0;
				let changed = true;
				const result = this.transaction(() => {
					const now = Date.now();
					const refused = this.#guard<T>(spec, fingerprint, now);
					if (refused) throw new Refusal(refused as WriteResult<never>);
					if (basis !== null && JSON.stringify(spec.basis?.()) !== basis) throw new StaleBasis();
					if (spec.timer) timers.complete(this.sql, spec.timer);
					const before = this.session()?.version;
					const applied = spec.apply({ plan: prepared as Plan, row: this.session(), now });
					if (!applied.ok) throw new Refusal(applied);
					if (options.idempotencyKey) this.#remember(options.idempotencyKey, fingerprint, applied.value, now, options.idempotencyRetention);
					version = readSession(this.sql)?.version ?? 0;
					changed = version !== before;
					const call = this.#call;
					audit.record(this.sql, { caller: call?.caller ?? null, operation: call?.operation ?? spec.operation, version, what: call?.what ?? null }, now);
					return applied;
				});
				uploads?.release();
				await this.armAlarm();
				// Upkeep that changes no version (archiving by age) has nothing to tell subscribers.
				if (changed) for (const listener of this.#core.listeners) listener({ operation: spec.operation, version });
				return result;
			} catch (error) {
				if (spec.timer) spec.timer.completed = false;
				if (error instanceof StaleBasis) {
					await this.#refused(uploads, owner);
					continue;
				}
				if (!(error instanceof Refusal)) {
					// Rolled back by the throw: nothing references what this write uploaded.
					await this.#refused(uploads, owner);
					throw error;
				}
				await this.#refused(uploads, owner);
				return error.result as WriteResult<T>;
			}
		}
		return fail("version_conflict", `The session kept changing under this ${spec.operation}; retry`, { scope: "session", reason: "basis_changed" });
	}

	/**
	 * A synchronous transaction outside the write path, for bookkeeping that changes no
	 * session content (timer claims, outbox acknowledgements). The row cache is dropped after.
	 */
	transaction<T>(body: () => T): T {
		try {
			return this.storage.transactionSync(body);
		} finally {
			this.#core.row = undefined;
		}
	}

	/**
	 * Wipes the object's storage with deleteAll(), so no content survives even in the free
	 * pages of its SQLite file, then rebuilds what must stay (schema, tombstone, facts) in one
	 * transaction. Storage operations hold the input gate: no other request runs in between.
	 */
	/** Whether a write is between an R2 upload and its commit (or the sweep of a refused one). */
	uploadsInFlight(): boolean {
		return this.#core.ledger.busy;
	}

	async wipe(rebuild: (sql: SqlStorage) => void): Promise<void> {
		await this.storage.deleteAll();
		this.#core.armedFor = null;
		this.transaction(() => rebuild(this.sql));
	}

	/** Arms the alarm for the earliest timer unless it is already armed at or before it. */
	async armAlarm(): Promise<void> {
		const due = timers.earliestDue(this.sql);
		if (due === null || (this.#core.armedFor !== null && this.#core.armedFor <= due)) return;
		this.#core.armedFor = due;
		await this.storage.setAlarm(due);
	}

	/** The alarm fired: runs what is due and arms it again for what is left. */
	async alarm(): Promise<void> {
		this.#core.armedFor = null;
		await this.runDueTimers(Date.now());
	}

	#guard<T>(spec: GuardSpec, fingerprint: string, now: number): WriteResult<T> | null {
		const options = spec.options ?? {};
		const precondition = spec.precondition ?? "update";
		const row = this.session();
		if (precondition === "create") {
			if (!row) return null;
			if (row.status === "deleted") return sessionDeleted(row);
			return this.#replay<T>(options, fingerprint, now) ?? fail("session_exists", `Session ${row.id} already exists`, { id: row.id, version: row.version });
		}
		if (!row) return sessionNotFound();
		if (row.status === "deleted") return sessionDeleted(row);
		if (this.#call && !admitsSession(this.#call.caller.sessions, row.id, row.subject)) return outOfScope(row.id);
		const replay = this.#replay<T>(options, fingerprint, now);
		if (replay) return replay;
		if (precondition === "update" && spec.fenced !== false) {
			const fenced = checkFence(this.sql, options.leaseToken, now);
			if (fenced) return fenced;
		}
		if (precondition === "update" && row.paused_at !== null && !spec.whilePaused) {
			return fail("session_paused", `Session is paused: ${row.pause_reason ?? ""}`, {
				since: new Date(row.paused_at).toISOString(),
				until: row.pause_until === null ? null : new Date(row.pause_until).toISOString(),
			});
		}
		if (precondition === "update" && row.closed_at !== null && !spec.whileClosed) {
			return fail("session_closed", `Session is closed: ${row.close_reason ?? ""}`, { closedAt: new Date(row.closed_at).toISOString(), reason: row.close_reason });
		}
		if (options.expectedVersion !== undefined && options.expectedVersion !== row.version) {
			return fail("version_conflict", `Session is at version ${row.version}, not ${options.expectedVersion}`, {
				scope: "session",
				expectedVersion: options.expectedVersion,
				currentVersion: row.version,
			});
		}
		return null;
	}

	#replay<T>(options: WriteOptions, fingerprint: string, now: number): WriteResult<T> | null {
		if (!options.idempotencyKey) return null;
		const remembered = idempotency.recall(this.sql, options.idempotencyKey, fingerprint, now);
		if (remembered.kind === "replay") return { ok: true, value: remembered.response as T, replayed: true };
		if (remembered.kind === "mismatch") return fail("idempotency_key_reused", "Idempotency-Key was already used for a different request");
		return null;
	}

	#remember(key: string, fingerprint: string, response: unknown, now: number, retention: WriteOptions["idempotencyRetention"]): void {
		const kept = retention === "session";
		idempotency.remember(this.sql, key, fingerprint, response, now, kept);
		if (!kept) timers.schedule(this.sql, idempotency.FORGET_TIMER, "", now + idempotency.IDEMPOTENCY_RETENTION_MS);
	}

	/**
	 * Cleans up after a write that did not commit. Under a deleted session nothing may stay,
	 * so its whole prefix is swept again; otherwise only this write's unreferenced uploads.
	 */
	async #refused(uploads: WriteUploads | null, owner: { tenant: string; sessionId: string } | null): Promise<void> {
		if (!uploads || !owner) return;
		if (uploads.keys.length === 0) {
			uploads.release();
			return;
		}
		if (this.session()?.status === "deleted") {
			uploads.release();
			try {
				await this.blobs().deleteSession(owner.tenant, owner.sessionId);
			} catch {
				// R2 is down: the purge timer takes it from here, however long that takes.
				this.transaction(() => schedulePurge(this.sql, owner.tenant, owner.sessionId, Date.now()));
				await this.armAlarm();
			}
			return;
		}
		await uploads.sweepUnreferenced(this.references);
	}
}
