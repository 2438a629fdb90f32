/**
 * Load generation with autocannon: one client process, keep-alive connections, one request in
 * flight per connection. Latencies are taken from each response (microsecond precision) and
 * ranked here: autocannon's own histogram keeps whole milliseconds, too coarse for the
 * sub-millisecond round trips of Miniflare.
 */
import { setTimeout as delay } from "node:timers/promises";
import autocannon from "autocannon";

/** A server under load: our Worker or the floor. */
export interface Target {
	role: "ours" | "floor" | "peer";
	url: string;
	headers: Record<string, string>;
}

/** The one request a scenario repeats. */
export interface RequestSpec {
	method: "GET" | "POST" | "PUT";
	path: string;
	body?: string;
	/**
	 * Called for every request sent, warm-up included: what differs from one request to the
	 * next (a fresh Idempotency-Key, the next expectedVersion, the next session's path).
	 * Headers add to the target's; what is left out stays as in the spec.
	 */
	next?: () => { headers?: Record<string, string>; body?: string; path?: string };
}

export interface Measurement {
	/** Completed responses, any status. */
	requests: number;
	requestsPerSecond: number;
	/** Latency of the 2xx responses, in milliseconds. */
	latencyMs: { p50: number; p95: number; p99: number; mean: number; max: number };
	non2xx: number;
	/** Connection errors, timeouts included. */
	errors: number;
	timeouts: number;
	seconds: number;
}

/**
 * Loads `target` with `spec` from `connections` connections for `seconds` (or, given `amount`,
 * until that many requests have answered) and ranks latencies.
 */
export async function measure(target: Target, spec: RequestSpec, connections: number, seconds: number, amount?: number): Promise<Measurement> {
	const latencies: number[] = [];
	const result = await new Promise<autocannon.Result>((resolve, reject) => {
		const instance = autocannon(
			{
				url: new URL(spec.path, target.url).href,
				method: spec.method,
				headers: spec.body === undefined ? target.headers : { ...target.headers, "content-type": "application/json" },
				body: spec.body,
				connections,
				duration: seconds,
				...(amount !== undefined && { amount }),
				// Stop on time: autocannon checks the clock once per sample interval (1 s by default).
				sampleInt: 100,
				...(spec.next && { requests: [{ setupRequest: (request) => varied(request, spec.next as NonNullable<RequestSpec["next"]>) }] }),
			},
			(error, finished) => (error ? reject(error) : resolve(finished)),
		);
		instance.on("response", (_client, statusCode, _bytes, responseTime) => {
			if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
		});
	});
	latencies.sort((a, b) => a - b);
	const total = latencies.reduce((sum, value) => sum + value, 0);
	return {
		requests: result.requests.total,
		requestsPerSecond: round(result.requests.total / result.duration, 1),
		latencyMs: {
			p50: round(percentile(latencies, 50), 3),
			p95: round(percentile(latencies, 95), 3),
			p99: round(percentile(latencies, 99), 3),
			mean: round(latencies.length ? total / latencies.length : Number.NaN, 3),
			max: round(latencies.at(-1) ?? Number.NaN, 3),
		},
		non2xx: result.non2xx,
		errors: result.errors,
		timeouts: result.timeouts,
		seconds: result.duration,
	};
}

function varied(request: autocannon.Request, next: NonNullable<RequestSpec["next"]>): autocannon.Request {
	const { headers, body, path } = next();
	return { ...request, headers: { ...request.headers, ...headers }, ...(body !== undefined && { body }), ...(path !== undefined && { path }) };
}

/** Rounds for the JSON: microseconds are the most a loopback timing can tell. */
export function round(value: number, digits: number): number {
	return Number(value.toFixed(digits));
}

/** Nearest-rank percentile of ascending values. */
function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One request outside the load, for set-up; throws unless it answers 2xx. */
export async function call(target: Target, method: RequestSpec["method"], path: string, body?: unknown): Promise<unknown> {
	const response = await fetch(new URL(path, target.url), {
		method,
		headers: body === undefined ? target.headers : { ...target.headers, "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await response.text();
	if (!response.ok) throw new Error(`${target.role}: ${method} ${path} answered ${response.status}: ${text}`);
	return text ? JSON.parse(text) : null;
}

/**
 * Waits until the session's changes are all projected to D1 and returns how long that took
 * after the load stopped. Our writes leave work behind (the outbox drain runs in the alarm);
 * letting it finish keeps it out of the next measurement, which is the floor's (or the peer's).
 */
export async function projectionCatchUp(target: Target, sessionId: string): Promise<number> {
	const stopped = Date.now();
	for (;;) {
		const session = (await call(target, "GET", `/v1/sessions/${encodeURIComponent(sessionId)}`)) as { projection: { pending: number } };
		const waited = Date.now() - stopped;
		if (session.projection.pending === 0) return waited;
		if (waited > 120_000) throw new Error(`${sessionId}: ${session.projection.pending} changes still unprojected after 120 s`);
		await delay(20);
	}
}
