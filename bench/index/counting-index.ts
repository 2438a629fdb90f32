/**
 * edge-context as it ships, with every D1 binding its Durable Objects use wrapped to count the
 * statements and the calls (a batch is one call) that reach D1: the load the cross-session
 * index puts on its database. src/ is untouched; bench/index-scale.ts bundles this entry with
 * the root wrangler.toml in place of src/index.ts. `/bench/d1` hands back the counts since
 * the last call. One workerd isolate serves every object locally, so one counter sees them all.
 */
import app, { ErasureObject, IndexProjector as ShippedIndexProjector, SessionObject as ShippedSessionObject } from "../../src/index";
import { D1Counter } from "../peers/row-counter";

const counter = new D1Counter();
/** A binding object may be shared by several objects: wrapped once, counted once. */
const wrapped = new WeakSet<D1Database>();

function counted(database: D1Database): D1Database {
	if (!wrapped.has(database)) {
		counter.wrap(database);
		wrapped.add(database);
	}
	return database;
}

export class SessionObject extends ShippedSessionObject {
	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, { ...env, DB: counted(env.DB) });
	}
}

export class IndexProjector extends ShippedIndexProjector {
	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, { ...env, DB: counted(env.DB) });
	}
}

export { ErasureObject };

export default {
	async fetch(request, env, ctx): Promise<Response> {
		if (new URL(request.url).pathname !== "/bench/d1") return app.fetch(request, env, ctx);
		const { totals, queries } = counter.take();
		return Response.json({ totals, queries: queries.slice(0, 12) });
	},
} satisfies ExportedHandler<Env>;
