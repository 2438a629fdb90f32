/**
 * One Durable Object per erasure by subject (`<tenant>/<erasure id>`): it finds the subject's
 * sessions through the D1 index, has each session object erase itself (erasure/operations.ts
 * in the session), and retries on its own alarm, with backoff, until every store has answered,
 * however long D1 or R2 are down. The index is swept twice, the second time at least
 * SETTLE_MS after the start, so a session whose subject reached the index late is not missed.
 * When done it signs a receipt and forgets the subject in clear.
 */
import { DurableObject } from "cloudflare:workers";
import type { Caller } from "../auth/scopes";
import type { Result } from "../errors";
import type { Erasure, Receipt, SessionErasure } from "../schemas/erasure";
import { indexDatabase } from "../projector/shards";
import { signReceipt } from "./receipts";

/** The index takes about a second to learn of a write (the projection delay, then the shard projector's gather); this is a margin over it. */
export const SETTLE_MS = 3000;
const BASE_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 10 * 60_000;

export interface StartErasure {
	id: string;
	tenant: string;
	subject: string;
	subjectHash: string;
	mode: "purge" | "tombstone";
	publicKeyUrl: string;
}

interface ErasureRow {
	id: string;
	tenant: string;
	subject: string | null;
	subject_hash: string;
	mode: "purge" | "tombstone";
	public_key_url: string;
	started_at: number;
	completed_at: number | null;
	sweeps: number;
	attempts: number;
	last_error: string | null;
	receipt: string | null;
	signature: string | null;
}

const ZERO = { objectRows: 0, r2Objects: 0, d1Rows: 0, auditRedacted: 0 };

export class ErasureObject extends DurableObject<Env> {
	/** The index database of a tenant (its shard's); fault-injection tests wrap the binding here. */
	readonly dependencies: { index: (tenant: string) => D1Database };
	readonly #sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.dependencies = { index: (tenant) => indexDatabase(env, tenant) };
		this.#sql = ctx.storage.sql;
		this.#sql.exec(`CREATE TABLE IF NOT EXISTS erasure (
			id TEXT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT, subject_hash TEXT NOT NULL, mode TEXT NOT NULL,
			public_key_url TEXT NOT NULL, started_at INTEGER NOT NULL, completed_at INTEGER, sweeps INTEGER NOT NULL DEFAULT 0,
			attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, receipt TEXT, signature TEXT)`);
		this.#sql.exec("CREATE TABLE IF NOT EXISTS targets (session_id TEXT PRIMARY KEY, state TEXT NOT NULL, counts TEXT NOT NULL)");
	}

	/** Starts the erasure (a repeated start is the same erasure) and takes its first step now. */
	async start(input: StartErasure): Promise<Result<Erasure>> {
		const existing = this.#row();
		if (existing && (existing.subject_hash !== input.subjectHash || existing.mode !== input.mode)) {
			return { ok: false, code: "idempotency_key_reused", message: "This Idempotency-Key started an erasure of another subject or mode" };
		}
		if (!existing) {
			this.#sql.exec(
				"INSERT INTO erasure (id, tenant, subject, subject_hash, mode, public_key_url, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				input.id,
				input.tenant,
				input.subject,
				input.subjectHash,
				input.mode,
				input.publicKeyUrl,
				Date.now(),
			);
			await this.ctx.storage.setAlarm(Date.now());
		}
		return this.status();
	}

	async status(): Promise<Result<Erasure>> {
		const row = this.#row();
		if (!row) return { ok: false, code: "not_found", message: "No such erasure" };
		return { ok: true, value: this.#view(row) };
	}

	override async alarm(): Promise<void> {
		const row = this.#row();
		if (!row || row.completed_at !== null) return;
		try {
			const finished = await this.#step(row);
			this.#sql.exec("UPDATE erasure SET attempts = 0, last_error = NULL");
			if (!finished) await this.ctx.storage.setAlarm(Math.max(Date.now() + 200, row.started_at + SETTLE_MS));
		} catch (error) {
			const attempts = row.attempts + 1;
			const message = error instanceof Error ? error.message : String(error);
			this.#sql.exec("UPDATE erasure SET attempts = ?, last_error = ?", attempts, message);
			console.warn(JSON.stringify({ level: "warn", msg: "erasure step failed, will retry", erasure: row.id, attempts, error: message }));
			await this.ctx.storage.setAlarm(Date.now() + Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.min(attempts - 1, 20)));
		}
	}

	/** One pass: sweep the index when due, erase what is pending; true once the receipt is signed. */
	async #step(row: ErasureRow): Promise<boolean> {
		const settled = Date.now() >= row.started_at + SETTLE_MS;
		if (row.sweeps === 0 || (row.sweeps === 1 && settled && this.#pending().length === 0)) {
			await this.#sweep(row);
		}
		const failures: string[] = [];
		for (const sessionId of this.#pending()) {
			const stub = this.env.SESSION.getByName(`${row.tenant}/${sessionId}`);
			const result: Result<SessionErasure> = await stub.eraseForSubject(this.#caller(row), { sessionId, erasureId: row.id, subject: row.subject ?? "", mode: row.mode });
			if (!result.ok) {
				failures.push(`${sessionId}: ${result.code}`);
				continue;
			}
			// Gone after an answer of `pending`: erased by an earlier call whose answer was lost
			// (a purge leaves nothing behind to answer with); keep the counts it reported.
			const previous = this.#targets().find((target) => target.sessionId === sessionId);
			const state = result.value.state === "absent" && previous?.state === "pending" ? "erased" : result.value.state;
			const counts = state === "erased" && result.value.state === "absent" ? previous?.counts : result.value.counts;
			this.#sql.exec("UPDATE targets SET state = ?, counts = ? WHERE session_id = ?", state, JSON.stringify(counts ?? ZERO), sessionId);
			if (result.value.state === "pending") failures.push(`${sessionId}: a store is unavailable`);
		}
		if (failures.length > 0) throw new Error(`not yet erased: ${failures.join("; ")}`);
		const current = this.#row() as ErasureRow;
		if (current.sweeps < 2 || this.#pending().length > 0) return false;
		await this.#complete(current);
		return true;
	}

	async #sweep(row: ErasureRow): Promise<void> {
		const found = await this.dependencies.index(row.tenant).prepare("SELECT id FROM sessions WHERE tenant = ? AND subject = ?").bind(row.tenant, row.subject).all<{ id: string }>();
		this.ctx.storage.transactionSync(() => {
			for (const { id } of found.results) this.#sql.exec("INSERT OR IGNORE INTO targets (session_id, state, counts) VALUES (?, 'queued', ?)", id, JSON.stringify(ZERO));
			this.#sql.exec("UPDATE erasure SET sweeps = sweeps + 1");
		});
	}

	async #complete(row: ErasureRow): Promise<void> {
		const targets = this.#targets();
		const erased = targets.filter((target) => target.state === "erased");
		const counts = { ...ZERO };
		for (const target of erased) for (const store of Object.keys(counts) as (keyof typeof ZERO)[]) counts[store] += target.counts[store];
		const completedAt = Date.now();
		const receipt: Receipt = {
			erasureId: row.id,
			tenant: row.tenant,
			subject: row.subject_hash,
			mode: row.mode,
			sessions: erased.map((target) => target.sessionId).sort(),
			counts,
			startedAt: new Date(row.started_at).toISOString(),
			completedAt: new Date(completedAt).toISOString(),
			publicKey: row.public_key_url,
		};
		const signature = await signReceipt(this.env.ERASURE_SIGNING_KEY, receipt);
		// The subject in clear is needed only to find sessions: it goes once the receipt exists.
		this.#sql.exec("UPDATE erasure SET completed_at = ?, receipt = ?, signature = ?, subject = NULL", completedAt, JSON.stringify(receipt), JSON.stringify(signature));
	}

	#caller(row: ErasureRow): Caller {
		return { principal: `erasure:${row.id}`, agent: null, requestId: null, sessions: ["*"], namespaces: null };
	}

	#row(): ErasureRow | null {
		return this.#sql.exec<ErasureRow & Record<string, SqlStorageValue>>("SELECT * FROM erasure").toArray()[0] ?? null;
	}

	#pending(): string[] {
		return this.#sql.exec<{ session_id: string }>("SELECT session_id FROM targets WHERE state IN ('queued', 'pending') ORDER BY session_id").toArray().map((target) => target.session_id);
	}

	#targets(): SessionErasure[] {
		return this.#sql
			.exec<{ session_id: string; state: SessionErasure["state"]; counts: string }>("SELECT * FROM targets ORDER BY session_id")
			.toArray()
			.map((target) => ({ sessionId: target.session_id, state: target.state, counts: JSON.parse(target.counts) as SessionErasure["counts"] }));
	}

	#view(row: ErasureRow): Erasure {
		return {
			id: row.id,
			status: row.completed_at === null ? "running" : "complete",
			mode: row.mode,
			subject: row.subject_hash,
			startedAt: new Date(row.started_at).toISOString(),
			sessions: this.#targets(),
			lastError: row.last_error,
			receipt: row.receipt === null ? null : (JSON.parse(row.receipt) as Receipt),
			signature: row.signature === null ? null : (JSON.parse(row.signature) as Erasure["signature"]),
		};
	}
}
