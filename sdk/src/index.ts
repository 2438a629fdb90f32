/**
 * edge-context for TypeScript: a typed client generated from the API's OpenAPI document
 * (schema.d.ts, with openapi-fetch underneath) and a thin layer that reads like the domain:
 *
 *   const ec = edgeContext({ baseUrl, apiKey });
 *   const s = ec.session("research-7");
 *   await s.events.append([{ type: "note", content: "read page 31" }]);
 *   await s.state.update("progress", "pages", (pages = 0) => pages + 1);
 *
 * Every write carries an Idempotency-Key made once per call and reused on each retry (network
 * errors, 429, 503, with backoff), so a retried append never writes twice. Failures are
 * EdgeContextError with the API's code. Runs wherever fetch does: Node, browsers, Workers.
 */
import createFetchClient from "openapi-fetch";
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
export type Session = Schemas["Session"];
export type Event = Schemas["Event"];
export type EventInput = Schemas["EventInput"];
export type CreateSession = Schemas["CreateSession"];
export type RetractEvents = Schemas["RetractEvents"];
export type AppendResult = Schemas["AppendResult"];
export type StateItem = Schemas["StateItem"];
export type ContextWindow = Schemas["ContextWindow"];
export type Checkpoint = Schemas["Checkpoint"];
export type Workflow = Schemas["Workflow"];
export type ErrorCode = Schemas["Error"]["error"]["code"];

/** A refusal or failure of the API, with its stable code (e.g. "version_conflict"). */
export class EdgeContextError extends Error {
	override readonly name = "EdgeContextError";
	constructor(
		readonly status: number,
		readonly code: ErrorCode | "network_error",
		message: string,
		readonly details: Record<string, unknown> = {},
		readonly requestId: string | null = null,
	) {
		super(message);
	}

	/** A stale expectedVersion, If-Match or compare-and-set. */
	get isConflict(): boolean {
		return this.code === "version_conflict";
	}
}

export interface EdgeContextOptions {
	baseUrl: string;
	apiKey: string;
	fetch?: typeof globalThis.fetch;
	/** Retries of a call on network errors, 429 and 503 (default 3). */
	retries?: number;
	/** First backoff, doubled per retry, with jitter (default 100 ms). */
	backoffMs?: number;
}

interface Answer<T> {
	data?: T;
	error?: unknown;
	response: Response;
}

/** A write's own Idempotency-Key (a framework's operation id), and how long the server keeps it. */
export interface KeyOptions {
	idempotencyKey?: string;
	/** "session": remembered as long as the session lives, not 24 hours, for ids that may be retried at any time. */
	idempotencyRetention?: "24h" | "session";
}

function keyHeaders(key: string, retention: KeyOptions["idempotencyRetention"]): { "idempotency-key": string; "idempotency-retention"?: "24h" | "session" } {
	return retention ? { "idempotency-key": key, "idempotency-retention": retention } : { "idempotency-key": key };
}

const RETRYABLE = new Set([429, 503]);

export function edgeContext(options: EdgeContextOptions) {
	const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
	const api = createFetchClient<paths>({
		baseUrl: options.baseUrl,
		fetch: (request: Request) => fetchImpl(request),
		headers: { authorization: `Bearer ${options.apiKey}` },
	});
	const retries = options.retries ?? 3;
	const backoffMs = options.backoffMs ?? 100;

	/**
	 * Runs one logical call: `attempt` gets the same Idempotency-Key every time it is retried,
	 * so the server writes at most once however many times the call goes out. A caller with its
	 * own operation id passes it as the key, so a retry of the whole operation writes once too.
	 */
	async function call<T>(attempt: (idempotencyKey: string) => Promise<Answer<T>>, idempotencyKey: string = crypto.randomUUID()): Promise<T> {
		for (let retry = 0; ; retry++) {
			let answer: Answer<T>;
			try {
				answer = await attempt(idempotencyKey);
			} catch (error) {
				if (retry >= retries) throw new EdgeContextError(0, "network_error", error instanceof Error ? error.message : String(error));
				await sleep(backoffMs, retry);
				continue;
			}
			if (answer.data !== undefined && answer.response.ok) return answer.data;
			if (RETRYABLE.has(answer.response.status) && retry < retries) {
				await sleep(backoffMs, retry);
				continue;
			}
			const body = (answer.error ?? {}) as { error?: { code?: ErrorCode; message?: string; details?: Record<string, unknown> } };
			throw new EdgeContextError(
				answer.response.status,
				body.error?.code ?? "internal_error",
				body.error?.message ?? `HTTP ${answer.response.status}`,
				body.error?.details,
				answer.response.headers.get("x-request-id"),
			);
		}
	}

	function session(id: string) {
		const path = { id };
		return {
			id,
			describe: () => call(() => api.GET("/v1/sessions/{id}", { params: { path } })),
			context: (query: operations["getContext"]["parameters"]["query"]) => call(() => api.GET("/v1/sessions/{id}/context", { params: { path, query } })),
			events: {
				append: (events: EventInput[], { idempotencyKey, idempotencyRetention, ...write }: { expectedVersion?: number } & KeyOptions = {}) =>
					call(
						(key) => api.POST("/v1/sessions/{id}/events", { params: { path, header: keyHeaders(key, idempotencyRetention) }, body: { events, ...write } }),
						idempotencyKey,
					),
				/** Hides the events from `fromSeq` on (if still `expectSeqs`), appending `events` in the same write. */
				retract: (body: RetractEvents, { idempotencyKey, idempotencyRetention }: KeyOptions = {}) =>
					call((key) => api.POST("/v1/sessions/{id}/events/retract", { params: { path, header: keyHeaders(key, idempotencyRetention) }, body }), idempotencyKey),
				list: (query: operations["listEvents"]["parameters"]["query"] = {}) => call(() => api.GET("/v1/sessions/{id}/events", { params: { path, query } })),
			},
			state: {
				get: (ns: string, key: string) => call(() => api.GET("/v1/sessions/{id}/state/{ns}/{key}", { params: { path: { ...path, ns, key } } })),
				put: (ns: string, key: string, value: unknown, write: { ifVersion?: number } = {}) =>
					call((idempotencyKey) =>
						api.PUT("/v1/sessions/{id}/state/{ns}/{key}", { params: { path: { ...path, ns, key }, header: { "idempotency-key": idempotencyKey } }, body: { value, ...write } }),
					),
				delete: (ns: string, key: string) =>
					call((idempotencyKey) => api.DELETE("/v1/sessions/{id}/state/{ns}/{key}", { params: { path: { ...path, ns, key }, header: { "idempotency-key": idempotencyKey } } })),
				/**
				 * Read-modify-write with compare-and-set: `change` gets the current value
				 * (undefined when the key does not exist) and is re-run on a conflict.
				 */
				update: async <T>(ns: string, key: string, change: (current: T | undefined) => T, attempts = 10) => {
					for (let attempt = 1; ; attempt++) {
						let current: { value: T | undefined; version: number };
						try {
							const item = await session(id).state.get(ns, key);
							current = { value: item.value as T, version: item.version };
						} catch (error) {
							if (!(error instanceof EdgeContextError) || error.code !== "not_found") throw error;
							current = { value: undefined, version: 0 };
						}
						try {
							return await session(id).state.put(ns, key, change(current.value), { ifVersion: current.version });
						} catch (error) {
							if (!(error instanceof EdgeContextError) || !error.isConflict || attempt >= attempts) throw error;
						}
					}
				},
			},
			checkpoints: {
				create: (name: string) => call((key) => api.POST("/v1/sessions/{id}/checkpoints", { params: { path, header: { "idempotency-key": key } }, body: { name } })),
				list: () => call(() => api.GET("/v1/sessions/{id}/checkpoints", { params: { path } })),
			},
			workflows: {
				get: (name: string) => call(() => api.GET("/v1/sessions/{id}/workflows/{name}", { params: { path: { ...path, name } } })),
			},
		};
	}

	return {
		session,
		sessions: {
			create: (body: Schemas["CreateSession"] = {}) => call((key) => api.POST("/v1/sessions", { params: { header: { "idempotency-key": key } }, body })),
		},
	};
}

function sleep(baseMs: number, retry: number): Promise<void> {
	const delay = baseMs * 2 ** retry;
	return new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
}
