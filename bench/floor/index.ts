/**
 * The floor for bench/run.ts: a bare Worker forwarding to a bare SQLite Durable Object over
 * RPC, with routes shaped like edge-context's so the same requests hit both. No auth, no
 * validation, no idempotency, no outbox, no tokenizer, no logging: whatever edge-context costs
 * above this is the price of its guarantees (or waste to find).
 */
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
	FLOOR: DurableObjectNamespace<FloorObject>;
}

interface EventRow extends Record<string, SqlStorageValue> {
	seq: number;
	content: string;
}

/** One per session id, like SessionObject: an append log and a key-value table. */
export class FloorObject extends DurableObject<FloorEnv> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: FloorEnv) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, content TEXT NOT NULL)`);
		this.sql.exec(
			`CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key))`,
		);
	}

	/** Inserts one row per content and returns the last seq. */
	append(contents: string[]): number {
		let seq = 0;
		for (const content of contents) {
			seq = this.sql.exec<{ seq: number }>("INSERT INTO events (content) VALUES (?) RETURNING seq", content).one().seq;
		}
		return seq;
	}

	/** Up to `limit` rows after `after`, in seq order. */
	events(after: number, limit: number): EventRow[] {
		return this.sql.exec<EventRow>("SELECT seq, content FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit).toArray();
	}

	putState(ns: string, key: string, value: string): void {
		this.sql.exec(
			"INSERT INTO state (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
			ns,
			key,
			value,
		);
	}

	getState(ns: string, key: string): string | null {
		return this.sql.exec<{ value: string }>("SELECT value FROM state WHERE ns = ? AND key = ?", ns, key).toArray()[0]?.value ?? null;
	}
}

const eventsPath = /^\/v1\/sessions\/([^/]+)\/events$/;
const statePath = /^\/v1\/sessions\/([^/]+)\/state\/([^/]+)\/([^/]+)$/;

export default {
	async fetch(request, env): Promise<Response> {
		const url = new URL(request.url);
		const events = eventsPath.exec(url.pathname);
		if (events) {
			const floor = env.FLOOR.getByName(events[1]);
			if (request.method === "POST") {
				const body = await request.json<{ events: { content: unknown }[] }>();
				const lastSeq = await floor.append(body.events.map((event) => JSON.stringify(event.content)));
				return Response.json({ lastSeq }, { status: 201 });
			}
			const after = Number(url.searchParams.get("after") ?? 0);
			const limit = Number(url.searchParams.get("limit") ?? 20);
			return Response.json({ events: await floor.events(after, limit) });
		}
		const state = statePath.exec(url.pathname);
		if (state) {
			const [, sessionId, ns, key] = state;
			const floor = env.FLOOR.getByName(sessionId);
			if (request.method === "PUT") {
				const body = await request.json<{ value: unknown }>();
				await floor.putState(ns, key, JSON.stringify(body.value));
				return Response.json({ ns, key });
			}
			const value = await floor.getState(ns, key);
			return value === null ? new Response(null, { status: 404 }) : Response.json({ ns, key, value: JSON.parse(value) });
		}
		if (url.pathname === "/healthz") return Response.json({ status: "ok" });
		return new Response(null, { status: 404 });
	},
} satisfies ExportedHandler<FloorEnv>;
