/**
 * One Durable Object per (tenant, session): the single writer of that session.
 *
 * Every write runs its checks and its changes in one synchronous SQLite transaction, so
 * writes are totally ordered and a write is either wholly applied (new version, contiguous
 * seqs, idempotency record, outbox row) or not at all. The runtime's output gate holds the
 * response until the transaction is durable, so an acknowledged write survives a crash.
 * The only awaits before a commit are R2 uploads and the tokenizer, and the guard re-runs
 * inside the transaction, so nothing observed before an await is trusted after it.
 */
import { DurableObject } from "cloudflare:workers";
import { BlobStore, BlobStoreUnavailable } from "../blobs/blob-store";
import { D1Projection, type SessionIndexRow } from "../db/projection";
import { type Failure, fail, ok, type Result } from "../errors";
import type { AppendEventsBody, AppendResult, EventPage, ListEventsQuery } from "../schemas/events";
import type { AcquireLeaseBody, Lease } from "../schemas/lease";
import type { DeletedSession, Session } from "../schemas/sessions";
import type { ListStateQuery, PutStateBody, StateItem, StatePage, StateWriteResult } from "../schemas/state";
import { DEFAULT_INLINE_LIMIT_BYTES, type PlacedValue, placeValue } from "./content";
import * as idempotency from "./idempotency";
import * as jobs from "./jobs";
import * as lease from "./lease";
import { insertEvents, type PreparedEvent, readEvents } from "./log";
import {
	bumpVersion,
	insertSession,
	markDeleted,
	type NewSession,
	readSession,
	type SessionRow,
	sessionPolicy,
	toSessionView,
} from "./meta";
import * as outbox from "./outbox";
import { migrate } from "./schema";
import * as state from "./state";
import { countTokens } from "./tokens";

/** What the Worker passes along with every write, from the request's headers and body. */
export interface WriteOptions {
	idempotencyKey?: string;
	expectedVersion?: number;
	leaseToken?: number;
}

/** A successful write, flagged when it is the remembered response to an earlier request. */
export type WriteResult<T> = { ok: true; value: T; replayed?: boolean } | Failure;

interface GuardOptions {
	/** Whether a writer lease, if one is held, must be presented. */
	fenced: boolean;
}

const OUTBOX_BATCH = 50;

export class SessionObject extends DurableObject<Env> {
	private readonly sql: SqlStorage;
	/** The R2 adapter; fault-injection tests swap it for one that fails. */
	blobs: BlobStore;
	/** The D1 index adapter; fault-injection tests swap it for one that fails. */
	projection: D1Projection;
	private draining: Promise<void> | null = null;
	private armedFor: number | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.blobs = new BlobStore(env.BLOBS);
		this.projection = new D1Projection(env.DB);
		void ctx.blockConcurrencyWhile(async () => {
			ctx.storage.transactionSync(() => migrate(this.sql));
			this.armedFor = await ctx.storage.getAlarm();
		});
	}

	/** Creates the session. A second create of the same id is a 409 unless it is a retry. */
	async createSession(input: NewSession, write: WriteOptions): Promise<WriteResult<Session>> {
		const fingerprint = await idempotency.fingerprintOf("create", input);
		const result = this.ctx.storage.transactionSync((): WriteResult<Session> => {
			const now = Date.now();
			const existing = readSession(this.sql);
			if (existing) {
				if (existing.status === "deleted") return this.deletedFailure(existing);
				if (write.idempotencyKey) {
					const remembered = idempotency.recall(this.sql, write.idempotencyKey, fingerprint, now);
					if (remembered.kind === "replay") return { ok: true, value: remembered.response as Session, replayed: true };
					if (remembered.kind === "mismatch") return this.reusedKeyFailure();
				}
				return fail("session_exists", `Session ${input.id} already exists`, { id: input.id, version: existing.version });
			}
			const row = insertSession(this.sql, input, now);
			outbox.enqueue(this.sql, { kind: "write", session: indexRow(row) }, now);
			jobs.ensureScheduled(this.sql, "drain_outbox", now);
			const view = this.view(row, now);
			if (write.idempotencyKey) this.remember(write.idempotencyKey, fingerprint, view, now);
			return ok(view);
		});
		await this.armAlarm();
		return result;
	}

	/** The session's version, counters, lease and projection lag. */
	async describe(): Promise<Result<Session>> {
		const row = this.readable();
		if (!("id" in row)) return row;
		return ok(this.view(row, Date.now()));
	}

	/**
	 * Appends events atomically: all get consecutive seqs under one new version, or none is
	 * written. Large content is uploaded to R2 before the commit that references it.
	 */
	async appendEvents(body: AppendEventsBody, write: WriteOptions): Promise<WriteResult<AppendResult>> {
		const fingerprint = await idempotency.fingerprintOf("append", body.events);
		const early = this.guard<AppendResult>(write, fingerprint, Date.now(), { fenced: true });
		if ("result" in early) return early.result;
		const owner = { tenant: early.row.tenant, sessionId: early.row.id };
		const limit = inlineLimit(early.row, this.env);
		let prepared: PreparedEvent[];
		try {
			prepared = [];
			for (const input of body.events) {
				const content = await placeValue(input.content, limit, this.blobs, owner);
				prepared.push({ input, content, tokens: await countTokens(content.text) });
			}
		} catch (error) {
			return blobFailure(error);
		}
		const result = this.commit<AppendResult>(write, fingerprint, { fenced: true }, (row, now) => {
			const version = row.version + 1;
			const firstSeq = row.last_seq + 1;
			const indexed = insertEvents(this.sql, prepared, { seq: firstSeq, version, tokensTotal: row.tokens_total }, now);
			const tokens = prepared.reduce((sum, event) => sum + event.tokens, 0);
			const updated = bumpVersion(this.sql, { lastSeq: firstSeq + prepared.length - 1, events: prepared.length, tokens }, now);
			outbox.enqueue(this.sql, { kind: "write", session: indexRow(updated), events: indexed }, now);
			return ok({
				version: updated.version,
				firstSeq,
				lastSeq: updated.last_seq,
				events: prepared.map((event, index) => ({
					seq: firstSeq + index,
					tokens: event.tokens,
					...refOf(event.content),
				})),
			});
		});
		return this.afterCommit(result, owner);
	}

	/** A page of the log in seq order. */
	async listEvents(query: ListEventsQuery): Promise<Result<EventPage>> {
		const row = this.readable();
		if (!("id" in row)) return row;
		return ok(readEvents(this.sql, query));
	}

	async getState(ns: string, key: string): Promise<Result<StateItem>> {
		const row = this.readable();
		if (!("id" in row)) return row;
		const item = state.readKey(this.sql, ns, key);
		return item ? ok(item) : fail("not_found", `No state key ${ns}/${key}`, { ns, key });
	}

	async listState(ns: string, query: Omit<ListStateQuery, "includeContent">): Promise<Result<StatePage>> {
		const row = this.readable();
		if (!("id" in row)) return row;
		return ok(state.readNamespace(this.sql, ns, query));
	}

	/**
	 * Sets a key. With `ifVersion` it is a compare-and-set on the key's version (0: the key
	 * must not exist); a mismatch is a 409 and changes nothing.
	 */
	async putState(ns: string, key: string, body: PutStateBody, write: WriteOptions): Promise<WriteResult<StateWriteResult>> {
		const fingerprint = await idempotency.fingerprintOf("put_state", { ns, key, value: body.value, ifVersion: body.ifVersion });
		const early = this.guard<StateWriteResult>(write, fingerprint, Date.now(), { fenced: true });
		if ("result" in early) return early.result;
		const owner = { tenant: early.row.tenant, sessionId: early.row.id };
		let placed: PlacedValue;
		try {
			placed = await placeValue(body.value, inlineLimit(early.row, this.env), this.blobs, owner);
		} catch (error) {
			return blobFailure(error);
		}
		const result = this.commit<StateWriteResult>(write, fingerprint, { fenced: true }, (row, now) => {
			const current = state.keyVersion(this.sql, ns, key);
			if (body.ifVersion !== undefined && body.ifVersion !== current) return keyConflict(ns, key, body.ifVersion, current);
			const updated = bumpVersion(this.sql, { stateKeys: current === 0 ? 1 : 0 }, now);
			state.writeKey(this.sql, ns, key, placed, updated.version, now);
			outbox.enqueue(this.sql, { kind: "write", session: indexRow(updated) }, now);
			return ok({ ns, key, version: updated.version, sessionVersion: updated.version, deleted: false });
		});
		return this.afterCommit(result, owner);
	}

	/** Deletes a key, optionally only if it is still at `ifVersion`. */
	async deleteState(
		ns: string,
		key: string,
		ifVersion: number | undefined,
		write: WriteOptions,
	): Promise<WriteResult<StateWriteResult>> {
		const fingerprint = await idempotency.fingerprintOf("delete_state", { ns, key, ifVersion });
		const result = this.commit<StateWriteResult>(write, fingerprint, { fenced: true }, (row, now) => {
			const current = state.keyVersion(this.sql, ns, key);
			if (current === 0) return fail("not_found", `No state key ${ns}/${key}`, { ns, key });
			if (ifVersion !== undefined && ifVersion !== current) return keyConflict(ns, key, ifVersion, current);
			state.deleteKey(this.sql, ns, key);
			const updated = bumpVersion(this.sql, { stateKeys: -1 }, now);
			outbox.enqueue(this.sql, { kind: "write", session: indexRow(updated) }, now);
			return ok({ ns, key, version: updated.version, sessionVersion: updated.version, deleted: true });
		});
		await this.armAlarm();
		return result;
	}

	/**
	 * Acquires the writer lease (new fencing token), or renews it when `token` is the current
	 * one. Lease changes do not bump the session version: they change who may write, not what
	 * the session holds.
	 */
	async acquireLease(body: AcquireLeaseBody, write: WriteOptions): Promise<WriteResult<Lease>> {
		const fingerprint = await idempotency.fingerprintOf("lease", body);
		return this.ctx.storage.transactionSync((): WriteResult<Lease> => {
			const now = Date.now();
			const guarded = this.guard<Lease>({ idempotencyKey: write.idempotencyKey }, fingerprint, now, { fenced: false });
			if ("result" in guarded) return guarded.result;
			const granted = lease.acquire(this.sql, body, now);
			if ("ok" in granted) return granted;
			const view = { holder: granted.holder, token: granted.token, expiresAt: new Date(granted.expires_at).toISOString() };
			if (write.idempotencyKey) this.remember(write.idempotencyKey, fingerprint, view, now);
			return ok(view);
		});
	}

	/** Ends the lease held with `token`; anyone may then write or acquire it. */
	async releaseLease(token: number): Promise<Result<{ released: true }>> {
		return this.ctx.storage.transactionSync((): Result<{ released: true }> => {
			const row = this.readable();
			if (!("id" in row)) return row;
			const refused = lease.release(this.sql, token, Date.now());
			return refused ?? ok({ released: true });
		});
	}

	/**
	 * Deletes the session everywhere. Its storage is wiped in one transaction that leaves a
	 * content-free tombstone and a purge job; R2 and D1 are purged right away when they
	 * answer, else by the alarm until done. Repeating the call returns the tombstone. A held
	 * lease does not block deletion: erasure requests outrank writers.
	 */
	async deleteSession(write: WriteOptions): Promise<Result<DeletedSession>> {
		const now = Date.now();
		const existing = readSession(this.sql);
		if (!existing) return this.notFound();
		if (existing.status === "active") {
			if (write.expectedVersion !== undefined && write.expectedVersion !== existing.version) {
				return versionConflict(write.expectedVersion, existing.version);
			}
			this.ctx.storage.transactionSync(() => {
				for (const table of ["events", "state", "idempotency", "lease"]) this.sql.exec(`DELETE FROM ${table}`);
				outbox.clear(this.sql);
				jobs.clearAll(this.sql);
				const tombstone = markDeleted(this.sql, now);
				outbox.enqueue(this.sql, { kind: "purge", session: indexRow(tombstone) }, now);
				jobs.ensureScheduled(this.sql, "drain_outbox", now);
			});
			await this.runJobs(now);
		}
		const row = readSession(this.sql) as SessionRow;
		return ok({
			id: row.id,
			status: "deleted",
			deletedAt: new Date(row.deleted_at ?? now).toISOString(),
			purge: outbox.pendingCount(this.sql) === 0 ? "complete" : "pending",
		});
	}

	/** Runs the background jobs that are due: the D1 projection drain, idempotency expiry. */
	override async alarm(): Promise<void> {
		this.armedFor = null;
		await this.runJobs(Date.now());
	}

	private async runJobs(now: number): Promise<void> {
		for (const job of jobs.dueJobs(this.sql, now)) {
			try {
				if (job.name === "drain_outbox") await this.drainOutbox();
				else this.forgetIdempotency();
			} catch (error) {
				const message = error instanceof Error ? error.message : String(error);
				const retryAt = jobs.retryLater(this.sql, job, message, Date.now());
				console.warn(JSON.stringify({ level: "warn", msg: "job failed, will retry", job: job.name, attempts: job.attempts + 1, retryAt, error: message }));
			}
		}
		await this.armAlarm();
	}

	/** Projects every outbox row to D1, oldest first; only acknowledged rows are removed. */
	private async drainOutbox(): Promise<void> {
		this.draining ??= (async () => {
			try {
				for (let batch = outbox.peek(this.sql, OUTBOX_BATCH); batch; batch = outbox.peek(this.sql, OUTBOX_BATCH)) {
					for (const change of batch.changes) {
						if (change.kind === "purge") await this.blobs.deleteSession(change.session.tenant, change.session.id);
					}
					await this.projection.apply(batch.changes);
					outbox.acknowledge(this.sql, batch.lastId);
				}
				// Synchronous with the last empty peek: no write can slip in between.
				jobs.complete(this.sql, "drain_outbox");
			} finally {
				this.draining = null;
			}
		})();
		return this.draining;
	}

	private forgetIdempotency(): void {
		const now = Date.now();
		idempotency.forgetExpired(this.sql, now);
		jobs.complete(this.sql, "forget_idempotency");
		const oldest = this.sql.exec<{ at: number | null }>("SELECT min(created_at) AS at FROM idempotency").one().at;
		if (oldest !== null) jobs.ensureScheduled(this.sql, "forget_idempotency", oldest + idempotency.IDEMPOTENCY_RETENTION_MS);
	}

	/** Arms the alarm for the earliest due job unless it is already armed at or before it. */
	private async armAlarm(): Promise<void> {
		const due = jobs.earliestDue(this.sql);
		if (due === null || (this.armedFor !== null && this.armedFor <= due)) return;
		this.armedFor = due;
		await this.ctx.storage.setAlarm(due);
	}

	/**
	 * The checks every write passes, in order: the session exists, a retried idempotency key
	 * gets its first response (even if the session moved on since), the lease fence, then
	 * the expected session version.
	 */
	private guard<T>(
		write: WriteOptions,
		fingerprint: string,
		now: number,
		options: GuardOptions,
	): { row: SessionRow } | { result: WriteResult<T> } {
		const row = this.readable();
		if (!("id" in row)) return { result: row };
		if (write.idempotencyKey) {
			const remembered = idempotency.recall(this.sql, write.idempotencyKey, fingerprint, now);
			if (remembered.kind === "replay") return { result: { ok: true, value: remembered.response as T, replayed: true } };
			if (remembered.kind === "mismatch") return { result: this.reusedKeyFailure() };
		}
		if (options.fenced) {
			const fenced = lease.checkFence(this.sql, write.leaseToken, now);
			if (fenced) return { result: fenced };
		}
		if (write.expectedVersion !== undefined && write.expectedVersion !== row.version) {
			return { result: versionConflict(write.expectedVersion, row.version) };
		}
		return { row };
	}

	/** Runs the guard and the change in one transaction, then remembers and schedules. */
	private commit<T>(
		write: WriteOptions,
		fingerprint: string,
		options: GuardOptions,
		apply: (row: SessionRow, now: number) => Result<T>,
	): WriteResult<T> {
		return this.ctx.storage.transactionSync((): WriteResult<T> => {
			const now = Date.now();
			const guarded = this.guard<T>(write, fingerprint, now, options);
			if ("result" in guarded) return guarded.result;
			const result = apply(guarded.row, now);
			if (!result.ok) return result;
			jobs.ensureScheduled(this.sql, "drain_outbox", now);
			if (write.idempotencyKey) this.remember(write.idempotencyKey, fingerprint, result.value, now);
			return result;
		});
	}

	/**
	 * After a commit: arm the alarm, and if the session was deleted while our upload was in
	 * flight, sweep its R2 prefix again so no content outlives the deletion.
	 */
	private async afterCommit<T>(result: WriteResult<T>, owner: { tenant: string; sessionId: string }): Promise<WriteResult<T>> {
		if (!result.ok && result.code === "session_deleted") {
			await this.blobs.deleteSession(owner.tenant, owner.sessionId).catch(() => undefined);
		}
		await this.armAlarm();
		return result;
	}

	private remember(key: string, fingerprint: string, response: unknown, now: number): void {
		idempotency.remember(this.sql, key, fingerprint, response, now);
		jobs.ensureScheduled(this.sql, "forget_idempotency", now + idempotency.IDEMPOTENCY_RETENTION_MS);
	}

	/** The session row if it exists and is not deleted, else the failure to return. */
	private readable(): SessionRow | Failure {
		const row = readSession(this.sql);
		if (!row) return this.notFound();
		if (row.status === "deleted") return this.deletedFailure(row);
		return row;
	}

	private view(row: SessionRow, now: number): Session {
		const held = lease.activeLease(this.sql, now);
		return toSessionView(row, {
			lease: held ? { holder: held.holder, expiresAt: new Date(held.expires_at).toISOString() } : null,
			projection: { pending: outbox.pendingCount(this.sql), lastError: jobs.lastError(this.sql, "drain_outbox") },
		});
	}

	private notFound(): Failure {
		return fail("session_not_found", "Session not found");
	}

	private deletedFailure(row: SessionRow): Failure {
		return fail("session_deleted", "Session was deleted", {
			deletedAt: new Date(row.deleted_at ?? row.updated_at).toISOString(),
		});
	}

	private reusedKeyFailure(): Failure {
		return fail("idempotency_key_reused", "Idempotency-Key was already used for a different request");
	}
}

function inlineLimit(row: SessionRow, env: Env): number {
	const configured = Number.parseInt(env.INLINE_LIMIT_BYTES, 10);
	return sessionPolicy(row).inlineLimitBytes ?? (Number.isFinite(configured) ? configured : DEFAULT_INLINE_LIMIT_BYTES);
}

function indexRow(row: SessionRow): SessionIndexRow {
	return {
		tenant: row.tenant,
		id: row.id,
		status: row.status,
		agent: row.agent,
		subject: row.subject,
		parentId: row.parent_id,
		version: row.version,
		eventCount: row.event_count,
		tokensTotal: row.tokens_total,
		createdAt: row.created_at,
		updatedAt: row.updated_at,
		deletedAt: row.deleted_at,
	};
}

function refOf(content: PlacedValue): { contentRef?: { sha256: string; bytes: number; preview: string } } {
	return content.blob ? { contentRef: { ...content.blob, preview: content.preview ?? "" } } : {};
}

function versionConflict(expected: number, current: number): Failure {
	return fail("version_conflict", `Session is at version ${current}, not ${expected}`, {
		scope: "session",
		expectedVersion: expected,
		currentVersion: current,
	});
}

function keyConflict(ns: string, key: string, expected: number, current: number): Failure {
	return fail("version_conflict", `State key ${ns}/${key} is at version ${current}, not ${expected}`, {
		scope: "key",
		ns,
		key,
		expectedVersion: expected,
		currentVersion: current,
	});
}

function blobFailure(error: unknown): Failure {
	if (error instanceof BlobStoreUnavailable) {
		return fail("dependency_unavailable", "Large content could not be stored in R2; nothing was written, retry later");
	}
	throw error;
}
