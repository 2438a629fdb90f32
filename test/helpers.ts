import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { BlobStore } from "../src/blobs/blob-store";
import type { SessionObject } from "../src/session/session-object";
import { env, exports } from "cloudflare:workers";

export const ADMIN_KEY = env.ADMIN_API_KEY;

/** A fresh id: storage is shared by all tests of a file, so no two tests share a session. */
export function newId(prefix = "s"): string {
	return `${prefix}-${crypto.randomUUID()}`;
}

export interface CallOptions {
	method?: string;
	body?: unknown;
	/** A raw body, sent as is (for malformed input). */
	rawBody?: string;
	key?: string | null;
	headers?: Record<string, string>;
}

/** Calls the Worker's fetch handler as an agent would over HTTP. */
export async function call(path: string, options: CallOptions = {}): Promise<Response> {
	const headers: Record<string, string> = { ...options.headers };
	const key = options.key === undefined ? ADMIN_KEY : options.key;
	if (key !== null) headers.authorization = `Bearer ${key}`;
	let body: string | undefined = options.rawBody;
	if (options.body !== undefined) body = JSON.stringify(options.body);
	if (body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
		headers["content-type"] = "application/json";
	}
	return exports.default.fetch(new Request(`http://edge-context.test${path}`, { method: options.method ?? "GET", headers, body }));
}

/** Calls and parses the JSON body, asserting nothing: tests check status and body. */
export async function callJson<T = any>(path: string, options: CallOptions = {}): Promise<{ status: number; body: T; headers: Headers }> {
	const response = await call(path, options);
	return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

export async function createSession(options: { id?: string; key?: string; body?: Record<string, unknown> } = {}): Promise<string> {
	const id = options.id ?? newId();
	const { status, body } = await callJson("/v1/sessions", { method: "POST", key: options.key, body: { id, ...options.body } });
	if (status !== 201) throw new Error(`create failed: ${status} ${JSON.stringify(body)}`);
	return id;
}

export async function mintKey(role: "admin" | "writer" | "reader", tenant?: string): Promise<string> {
	const { status, body } = await callJson("/v1/admin/keys", { method: "POST", body: { role, tenant } });
	if (status !== 201) throw new Error(`mint failed: ${status} ${JSON.stringify(body)}`);
	return body.key as string;
}

/** The session's object, as the Worker addresses it for the bootstrap key's tenant. */
export function sessionObject(id: string, tenant = env.ADMIN_TENANT) {
	return env.SESSION.getByName(`${tenant}/${id}`);
}

export function appendBody(count: number, content = (index: number) => `event ${index}`) {
	return { events: Array.from({ length: count }, (_, index) => ({ type: "note", content: content(index) })) };
}

/**
 * Runs the session's alarm until no background job is left, as time passing would. Alarms also
 * fire on their own in Miniflare, so a job may be midway when this is called: it waits for it.
 */
export async function runJobsUntilIdle(id: string, tenant = env.ADMIN_TENANT): Promise<void> {
	const stub = sessionObject(id, tenant);
	// Audit records and figures wait up to 30 s for the drain when no write brings it forward.
	await runInDurableObject(stub, (_instance, state) => {
		state.storage.sql.exec("UPDATE timers SET due_at = min(due_at, ?) WHERE kind = 'drain_outbox' AND claimed = 0 AND attempts = 0", Date.now());
	});
	for (let round = 0; round < 20; round++) {
		await runDurableObjectAlarm(stub);
		// Jobs due far ahead (the next elapsed-time compaction check) are not pending work.
		const pending = await runInDurableObject(stub, (_instance, state) =>
			state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM timers WHERE kind != 'forget_idempotency' AND parked_at IS NULL AND due_at < ?", Date.now() + 5000).one().n,
		);
		if (pending === 0) return;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	throw new Error(`session ${id} still has background jobs after 20 alarm runs`);
}

/** A statement the session ran, with its cursor (rowsRead, rowsWritten: what Durable Object SQLite bills). */
export type RecordedQuery = { query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> };

/** Makes the session's `storage.sql` push every statement it runs, with its cursor, onto `into`. */
export async function recordQueries(id: string, into: RecordedQuery[]): Promise<void> {
	await runInDurableObject(sessionObject(id), (_instance, state) => {
		const sql = state.storage.sql;
		const exec = sql.exec.bind(sql);
		Object.defineProperty(sql, "exec", {
			configurable: true,
			value: (query: string, ...bindings: unknown[]) => {
				const cursor = exec(query, ...bindings);
				into.push({ query, cursor });
				return cursor;
			},
		});
	});
}

/** Puts a wrapped bucket (fault injection, pause gate) in front of the session object's R2. */
export async function useBucket(id: string, bucket: R2Bucket, tenant = env.ADMIN_TENANT): Promise<void> {
	await runInDurableObject(sessionObject(id, tenant), (instance: SessionObject) => {
		instance.dependencies.blobs = new BlobStore(bucket);
	});
}

/** Polls `probe` until it returns something truthy, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
}
