/**
 * Timing state and context lookups. A lookup's latency can only be seen from the Worker: inside
 * the object the clock stands still while it computes (Workers advance time at I/O only), so
 * the Worker times the RPC and hands the samples to the session object after the response
 * (waitUntil), which keeps them as histograms (session/metrics/metrics.ts). At most one
 * hand-over per session is under way in an isolate; samples taken meanwhile go with the next
 * hand-over, so a busy session gets one extra call per round trip, not per lookup. What an
 * isolate holds when it is evicted (or after its last request) is lost, which a latency
 * figure can bear.
 * With a Workers Analytics Engine binding (METRICS) every sample is also written there.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { callerOf } from "../auth/authorize";
import type { Result } from "../errors";
import type { LookupSample } from "../session/metrics/metrics";
import { sessionApi } from "./session-api";

const MAX_PENDING = 1000;
/** A hand-over not finished by then is taken as lost (its waitUntil was cut off). */
const HANDOVER_TIMEOUT_MS = 30_000;

/** Samples waiting per session, and since when a hand-over to its object is under way. */
const pending = new Map<string, { samples: LookupSample[]; handingOverSince: number | null }>();

export async function timedLookup<T>(c: Context<AppEnv>, sessionId: string, operation: LookupSample["operation"], lookup: () => Promise<Result<T>>): Promise<Result<T>> {
	const started = performance.now();
	let result: Result<T>;
	try {
		result = await lookup();
	} catch (error) {
		note(c, sessionId, { operation, ms: performance.now() - started, error: "unavailable" });
		throw error;
	}
	note(c, sessionId, { operation, ms: performance.now() - started, error: result.ok ? null : result.code });
	return result;
}

function note(c: Context<AppEnv>, sessionId: string, sample: LookupSample): void {
	// A credential probing sessions it may not reach leaves no figures in them.
	if (sample.error?.endsWith("_out_of_scope")) return;
	const principal = c.var.principal;
	c.env.METRICS?.writeDataPoint({ indexes: [principal.tenant], blobs: [principal.tenant, sample.operation, sample.error ?? "ok"], doubles: [sample.ms] });
	const key = `${principal.tenant}/${sessionId}`;
	const entry = pending.get(key) ?? { samples: [], handingOverSince: null };
	pending.set(key, entry);
	if (entry.samples.length < MAX_PENDING) entry.samples.push(sample);
	const now = Date.now();
	if (entry.handingOverSince !== null && now - entry.handingOverSince < HANDOVER_TIMEOUT_MS) return;
	entry.handingOverSince = now;
	c.executionCtx.waitUntil(
		(async () => {
			try {
				while (entry.samples.length > 0) await sessionApi(c.env, principal, sessionId).recordLookups(callerOf(principal), entry.samples.splice(0));
			} catch (error) {
				console.warn(JSON.stringify({ level: "warn", msg: "lookup samples lost", error: String(error) }));
			} finally {
				entry.handingOverSince = null;
				if (entry.samples.length === 0) pending.delete(key);
			}
		})(),
	);
}
