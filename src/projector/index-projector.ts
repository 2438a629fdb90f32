/**
 * One Durable Object per index shard (`shard-<n>`): the single writer of that shard's D1 rows.
 * Every session of the shard's tenants hands its drain's batch here (session/projection/drain.ts)
 * instead of calling D1 itself; the projector gathers the batches that arrive within
 * GATHER_MS, or while its previous D1 call is under way, and writes them in one D1 call whose
 * statements carry many sessions' rows each (db/index-batch.ts). Measured
 * (bench/README.md, "The index at scale"): D1 statements per active session fall with load
 * instead of staying at four per write.
 *
 * A batch is answered only once D1 has committed it, so the session acknowledges its outbox
 * rows after the index holds them, exactly as when it wrote to D1 itself: the projector keeps
 * nothing that is not also still in a session's outbox, and an eviction or crash here only
 * fails the calls in flight, which their sessions retry. Statements are idempotent, so a retry
 * of a batch D1 did apply (its answer lost) changes nothing.
 */
import { DurableObject } from "cloudflare:workers";
import type { IndexBatch } from "../db/index-batch";
import { D1Projection } from "../db/projection";
import { shardDatabase } from "./shards";

/**
 * How long the first batch waits for others. Sessions drain a second after their writes, so a
 * tenth of that more is invisible to readers of an eventual index, and at 100 drains a second
 * per shard it gathers about ten per D1 call. Measured (bench/README.md): 2.3 statements per
 * write at 10 drains/s and 0.51 at 80, against 4.0-4.2 when each session wrote to D1 itself;
 * 25 ms gathered too little at 10 drains/s (3.9).
 */
export const GATHER_MS = 100;

/**
 * Batches one D1 call carries at most. A one-event write's batch is four rows in four tables
 * (event, text, session, audit); 100 of them make about 47 statements, within the 50 queries an
 * invocation may run on the free plan (D1 limits). Larger writes make larger calls, as they
 * did when each session wrote to D1 itself.
 */
const MAX_BATCHES_PER_CALL = 100;

/** D1 ends a query at 30 s; a call unanswered by then is given up, so no hung call stalls the shard. */
const COMMIT_DEADLINE_MS = 30_000;

interface Waiting {
	batch: IndexBatch;
	resolve: () => void;
	reject: (error: unknown) => void;
}

export class IndexProjector extends DurableObject<Env> {
	/** The shard's D1 writer, made on the first batch; fault-injection tests put a wrapped binding here first. */
	index: D1Projection | null = null;
	/** Tests shorten it rather than wait 30 s. */
	commitDeadlineMs = COMMIT_DEADLINE_MS;
	#waiting: Waiting[] = [];
	#timer: ReturnType<typeof setTimeout> | null = null;
	#writing = false;

	/**
	 * Answers once D1 holds the batch's rows, or with D1's error if they could not be written:
	 * an answer, not an exception, since a D1 outage is expected here and the caller retries.
	 */
	async project(shard: number, batch: IndexBatch): Promise<{ written: true } | { written: false; error: string }> {
		// Every caller names the same shard: the one this object is named after.
		this.index ??= new D1Projection(shardDatabase(this.env, shard));
		try {
			await new Promise<void>((resolve, reject) => {
				this.#waiting.push({ batch, resolve, reject });
				if (!this.#writing && this.#timer === null) this.#timer = setTimeout(() => void this.#write(), GATHER_MS);
			});
			return { written: true };
		} catch (error) {
			return { written: false, error: error instanceof Error ? error.message : String(error) };
		}
	}

	/** Writes what has gathered, then whatever gathered meanwhile, one D1 call at a time. */
	async #write(): Promise<void> {
		this.#timer = null;
		this.#writing = true;
		try {
			while (this.#waiting.length > 0) {
				const taken = this.#waiting.splice(0, MAX_BATCHES_PER_CALL);
				await this.#commit(taken);
			}
		} finally {
			this.#writing = false;
		}
	}

	/**
	 * One D1 call for all. If D1 rejects it, each batch alone, so a batch D1 rejects fails only
	 * the session it belongs to; a D1 that does not answer fails them all at once. Failed
	 * sessions retry on their own timers: their rows are still in their outboxes.
	 */
	async #commit(taken: Waiting[]): Promise<void> {
		try {
			await this.#writeAll(taken.map((waiting) => waiting.batch));
			for (const waiting of taken) waiting.resolve();
			return;
		} catch (error) {
			if (taken.length === 1 || error instanceof DeadlineExceeded) {
				for (const waiting of taken) waiting.reject(error);
				return;
			}
		}
		for (const waiting of taken) {
			try {
				await this.#writeAll([waiting.batch]);
				waiting.resolve();
			} catch (error) {
				waiting.reject(error);
			}
		}
	}

	async #writeAll(batches: IndexBatch[]): Promise<void> {
		let giveUp!: (error: Error) => void;
		const deadline = new Promise<never>((_, reject) => {
			giveUp = reject;
		});
		const timer = setTimeout(() => giveUp(new DeadlineExceeded(this.commitDeadlineMs)), this.commitDeadlineMs);
		try {
			// A call given up on may still commit later: its statements are idempotent, its sessions resend.
			// `index` is set by project() before any batch waits.
			await Promise.race([(this.index as D1Projection).writeAll(batches), deadline]);
		} finally {
			clearTimeout(timer);
		}
	}
}

class DeadlineExceeded extends Error {
	constructor(ms: number) {
		super(`index projector: D1 did not answer within ${ms} ms`);
	}
}
