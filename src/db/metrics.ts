/**
 * The tenant's metrics, computed in D1 from the session index and the figures each session
 * projects (session_metrics). Distributions are read as order statistics (one row per
 * quantile), so no query returns a row per session.
 */
import { LATENCY_BUCKETS_MS } from "../session/metrics/metrics";
import type { MetricsReport } from "../schemas/metrics";

const QUANTILES = { p50: 0.5, p95: 0.95, p99: 0.99 } as const;
const HOUR_MS = 3_600_000;

export async function tenantMetrics(database: D1Database, tenant: string, now: number): Promise<MetricsReport> {
	const active = "FROM sessions WHERE tenant = ?1 AND status = 'active'";
	const distribution = (expression: string) => [
		database.prepare(`SELECT count(*) AS n, max(${expression}) AS max ${active}`).bind(tenant),
		...Object.values(QUANTILES).map((q) =>
			// OFFSET ceil(q·n) - 1, in integer arithmetic (no math functions needed).
			database
				.prepare(`SELECT ${expression} AS v ${active} ORDER BY v LIMIT 1 OFFSET (SELECT max(0, CAST(?2 * n AS INTEGER) + (?2 * n > CAST(?2 * n AS INTEGER)) - 1) FROM (SELECT count(*) AS n ${active}))`)
				.bind(tenant, q),
		),
	];
	const utilization = "context_tokens * 1.0 / model_window";
	const results = await database.batch([
		database.prepare("SELECT status, paused, count(*) AS n FROM sessions WHERE tenant = ? GROUP BY status, paused").bind(tenant),
		...distribution("tokens_total"),
		...distribution(utilization),
		database
			.prepare(
				`SELECT count(*) AS total, sum(created_at >= ?2) AS last_hour, avg(1.0 - after_tokens * 1.0 / before_tokens) AS ratio
				 FROM compactions WHERE tenant = ?1 AND before_tokens > 0`,
			)
			.bind(tenant, now - HOUR_MS),
		database.prepare("SELECT count(*) AS n FROM approvals WHERE tenant = ? AND status = 'pending'").bind(tenant),
		database.prepare("SELECT name, label, sum(value) AS value FROM session_metrics WHERE tenant = ? GROUP BY name, label").bind(tenant),
	]);
	const rows = <T>(index: number) => results[index].results as T[];
	const sessions = { active: 0, paused: 0, deleted: 0 };
	for (const row of rows<{ status: string; paused: number; n: number }>(0)) {
		if (row.status === "deleted") sessions.deleted += row.n;
		else if (row.paused) sessions.paused += row.n;
		else sessions.active += row.n;
	}
	const quantiles = (first: number) => {
		const [summary] = rows<{ n: number; max: number | null }>(first);
		const value = (offset: number) => (summary.n === 0 ? null : (rows<{ v: number }>(first + offset)[0]?.v ?? null));
		return { p50: value(1), p95: value(2), p99: value(3), max: summary.n === 0 ? null : summary.max };
	};
	const [compactions] = rows<{ total: number; last_hour: number | null; ratio: number | null }>(9);
	const figures = rows<{ name: string; label: string; value: number }>(11);
	const sum = (name: string) => figures.filter((figure) => figure.name === name).reduce((total, figure) => total + figure.value, 0);
	return {
		tenant,
		generatedAt: new Date(now).toISOString(),
		sessions,
		tokensPerSession: quantiles(1),
		contextUtilization: quantiles(5),
		compactions: { lastHour: compactions.last_hour ?? 0, total: compactions.total, reductionRatio: compactions.ratio },
		resumes: sum("resumes"),
		restores: sum("restores"),
		approvals: { pending: rows<{ n: number }>(10)[0].n, escalated: sum("escalations") },
		lookups: { state: lookupFigures(figures, "state"), context: lookupFigures(figures, "context") },
	};
}

/** Histogram buckets of one operation, cumulative, as Prometheus wants them. */
export function lookupBuckets(figures: Array<{ name: string; label: string; value: number }>, operation: string): Array<{ le: string; count: number }> {
	const byBucket = new Map(figures.filter((figure) => figure.name === "lookup_ms" && figure.label.startsWith(`${operation}:`)).map((figure) => [figure.label.slice(operation.length + 1), figure.value]));
	let running = 0;
	return [...LATENCY_BUCKETS_MS.map(String), "+Inf"].map((le) => {
		running += byBucket.get(le) ?? 0;
		return { le, count: running };
	});
}

function lookupFigures(figures: Array<{ name: string; label: string; value: number }>, operation: string) {
	const buckets = lookupBuckets(figures, operation);
	const count = buckets.at(-1)?.count ?? 0;
	const quantile = (q: number) => {
		if (count === 0) return null;
		const bucket = buckets.find((candidate) => candidate.count >= Math.ceil(q * count));
		return bucket === undefined || bucket.le === "+Inf" ? null : Number(bucket.le);
	};
	const errors = Object.fromEntries(
		figures.filter((figure) => figure.name === "lookup_errors" && figure.label.startsWith(`${operation}:`)).map((figure) => [figure.label.slice(operation.length + 1), figure.value]),
	);
	return { count, p50Ms: quantile(0.5), p95Ms: quantile(0.95), p99Ms: quantile(0.99), errors };
}
