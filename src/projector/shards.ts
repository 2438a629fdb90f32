/**
 * Where a tenant's index lives. INDEX_DATABASES (wrangler.toml) lists the D1 bindings the index
 * is sharded over, `DB` alone by default; shard n is the n-th binding and the projector
 * `shard-<n>` that writes to it. A tenant's shard is a hash of its name, so all of a tenant's
 * rows, and every query a tenant makes, stay in one database. The tenant directory (API keys,
 * token revocations, tenant settings) is read before a tenant is known: it stays in `DB`.
 *
 * The hash spreads tenants over the list as it stands: adding a database moves tenants, and
 * moving their rows is not built yet (bench/README.md, "The index at scale").
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

/** The configured index bindings, in order; a missing or non-D1 name is a deployment error. */
export function indexBindings(env: Env): string[] {
	const names = (env.INDEX_DATABASES ?? "DB")
		.split(",")
		.map((name) => name.trim())
		.filter((name) => name.length > 0);
	if (names.length === 0) throw new Error("INDEX_DATABASES names no D1 binding");
	for (const name of names) {
		const binding = (env as unknown as Record<string, unknown>)[name] as { prepare?: unknown; batch?: unknown } | undefined;
		if (typeof binding?.prepare !== "function" || typeof binding.batch !== "function") throw new Error(`INDEX_DATABASES names ${name}, which is not a D1 binding`);
	}
	return names;
}

/** Shard n's database. */
export function shardDatabase(env: Env, shard: number): D1Database {
	return (env as unknown as Record<string, D1Database>)[indexBindings(env)[shard]];
}

/** The database of a tenant's index rows: sessions, events, search text, audit trail, approvals, metrics. */
export function indexDatabase(env: Env, tenant: string): D1Database {
	const names = indexBindings(env);
	return (env as unknown as Record<string, D1Database>)[names[shardOf(tenant, names.length)]];
}

/** A session's way to the index: its batches through its shard's projector, its rare erasure calls straight to its database. */
export class ShardedIndex implements IndexWriter {
	constructor(private readonly env: Env) {}

	async write(batch: IndexBatch): Promise<void> {
		// A batch is one session's: every part names the same tenant.
		const tenant = batch.changes[0]?.session.tenant ?? batch.audit?.owner.tenant ?? batch.metrics?.owner.tenant;
		if (tenant === undefined) return;
		const shard = shardOf(tenant, indexBindings(this.env).length);
		const outcome = await this.env.INDEX_PROJECTOR.getByName(`shard-${shard}`).project(shard, batch);
		// The drain's timer records the error and retries: the rows stay in the outbox meanwhile.
		if (!outcome.written) throw new Error(outcome.error);
	}

	countSessionRows(owner: IndexOwner): Promise<number> {
		return new D1Projection(indexDatabase(this.env, owner.tenant)).countSessionRows(owner);
	}

	redactErased(owner: IndexOwner, mode: "purge" | "tombstone"): Promise<number> {
		return new D1Projection(indexDatabase(this.env, owner.tenant)).redactErased(owner, mode);
	}
}
