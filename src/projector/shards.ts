/**
 * Which shard's projector a tenant's index rows go through. The shard count comes from
 * INDEX_SHARDS (wrangler.toml); a tenant's shard is a hash of its name, so every session of a
 * tenant meets the others of that tenant in the same projector.
 */
import type { IndexBatch, IndexOwner } from "../db/index-batch";
import { D1Projection, type IndexWriter } from "../db/projection";

/** The shard that holds a tenant's index rows: FNV-1a of the tenant, stable across deploys. */
export function shardOf(tenant: string, shards: number): number {
	let hash = 0x811c9dc5;
	for (let index = 0; index < tenant.length; index++) {
		hash ^= tenant.charCodeAt(index);
		hash = Math.imul(hash, 0x01000193);
	}
	return (hash >>> 0) % shards;
}

/** The configured shard count; anything but a positive integer is a deployment error. */
export function shardCount(configured: string | undefined): number {
	const shards = Number(configured ?? "1");
	if (!Number.isInteger(shards) || shards < 1) throw new Error(`INDEX_SHARDS must be a positive integer, got ${configured}`);
	return shards;
}

/** A session's way to the index: its batches through its shard's projector, its rare erasure calls straight to D1. */
export class ShardedIndex implements IndexWriter {
	readonly #direct: D1Projection;
	readonly #shards: number;

	constructor(private readonly env: Env) {
		this.#direct = new D1Projection(env.DB);
		this.#shards = shardCount(env.INDEX_SHARDS);
	}

	async write(batch: IndexBatch): Promise<void> {
		// A batch is one session's: every part names the same tenant.
		const tenant = batch.changes[0]?.session.tenant ?? batch.audit?.owner.tenant ?? batch.metrics?.owner.tenant;
		if (tenant === undefined) return;
		const outcome = await this.env.INDEX_PROJECTOR.getByName(`shard-${shardOf(tenant, this.#shards)}`).project(batch);
		// The drain's timer records the error and retries: the rows stay in the outbox meanwhile.
		if (!outcome.written) throw new Error(outcome.error);
	}

	countSessionRows(owner: IndexOwner): Promise<number> {
		return this.#direct.countSessionRows(owner);
	}

	redactErased(owner: IndexOwner, mode: "purge" | "tombstone"): Promise<number> {
		return this.#direct.redactErased(owner, mode);
	}
}
