/**
 * edge-context as it ships, with a Durable Object subclass that counts what each request is
 * billed for: the rows of every `ctx.storage.sql.exec` cursor and the D1 statements the object
 * runs (the outbox drain to the D1 index). src/ is untouched; the bench bundles this entry with
 * the root wrangler.toml in place of src/index.ts, for the row counts only: latencies are
 * measured on the real bundle. `/bench/rows/:tenant/:session` takes the counts since the last
 * call; `/bench/drain/:tenant/:session` runs the projection drain now.
 */
import app, { ErasureObject, IndexProjector, SessionObject as ShippedSessionObject } from "../../src/index";
import { D1Projection } from "../../src/db/projection";
import { D1Counter, SqlRowCounter } from "./row-counter";
import type { TakenRows } from "./row-counts";

export class SessionObject extends ShippedSessionObject {
	readonly #rows: SqlRowCounter;
	readonly #d1: D1Counter;

	constructor(ctx: DurableObjectState, env: Env) {
		const rows = new SqlRowCounter();
		rows.install(ctx.storage);
		const d1 = new D1Counter();
		super(ctx, { ...env, DB: d1.wrap(env.DB) });
		// Each session's index writes counted as its own, as before the shard projectors: they
		// share D1 calls with other sessions' there (bench/index-scale.ts measures that).
		this.dependencies.projection = new D1Projection(env.DB);
		this.#rows = rows;
		this.#d1 = d1;
	}

	/**
	 * Runs the projection drain now, as its timer would once due: audit records of reads wait up
	 * to 30 s for it (src/session/projection/outbox.ts), longer than the bench waits. Bringing the
	 * timer forward is the bench's doing and is not counted; the drain itself is.
	 */
	async drainNow(): Promise<void> {
		this.#rows.uncounted(() => this.ctx.storage.sql.exec("UPDATE timers SET due_at = 0 WHERE kind = 'drain_outbox' AND claimed = 0"));
		await this.alarm();
	}

	takeRowCounts(): TakenRows {
		const { totals, queries } = this.#rows.take();
		return { sql: totals, queries, d1: this.#d1.take() };
	}
}

export { ErasureObject, IndexProjector };

const benchPath = /^\/bench\/(rows|drain)\/([^/]+)\/([^/]+)$/;

export default {
	async fetch(request, env, ctx): Promise<Response> {
		const bench = benchPath.exec(new URL(request.url).pathname);
		if (!bench) return app.fetch(request, env, ctx);
		const object = env.SESSION.getByName(`${decodeURIComponent(bench[2])}/${decodeURIComponent(bench[3])}`) as unknown as DurableObjectStub<SessionObject>;
		if (bench[1] === "drain") {
			await object.drainNow();
			return Response.json({ drained: true });
		}
		return Response.json(await object.takeRowCounts());
	},
} satisfies ExportedHandler<Env>;
