/**
 * edge-context as it ships, with a Durable Object subclass that counts what each request is
 * billed for: the rows of every `ctx.storage.sql.exec` cursor and the D1 statements the object
 * runs (the outbox drain to the D1 index). src/ is untouched; the bench bundles this entry with
 * the root wrangler.toml in place of src/index.ts, for the row counts only: latencies are
 * measured on the real bundle. `/bench/rows/:tenant/:session` takes the counts since the last
 * call.
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

	takeRowCounts(): TakenRows {
		const { totals, queries } = this.#rows.take();
		return { sql: totals, queries, d1: this.#d1.take() };
	}
}

export { ErasureObject, IndexProjector };

const rowsPath = /^\/bench\/rows\/([^/]+)\/([^/]+)$/;

export default {
	async fetch(request, env, ctx): Promise<Response> {
		const rows = rowsPath.exec(new URL(request.url).pathname);
		if (!rows) return app.fetch(request, env, ctx);
		const object = env.SESSION.getByName(`${decodeURIComponent(rows[1])}/${decodeURIComponent(rows[2])}`) as unknown as DurableObjectStub<SessionObject>;
		return Response.json(await object.takeRowCounts());
	},
} satisfies ExportedHandler<Env>;
