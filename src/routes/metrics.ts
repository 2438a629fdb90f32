import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { requires } from "../auth/authorize";
import { lookupBuckets, tenantMetrics } from "../db/metrics";
import { ApiError } from "../errors";
import { MetricsReport } from "../schemas/metrics";
import { bearerSecurity, createRouter, errorResponses, json } from "./router";
import { indexDatabase } from "../projector/shards";

export const metricsRoutes = createRouter();

async function report(c: Context<AppEnv>): Promise<MetricsReport & { figures: Array<{ name: string; label: string; value: number }> }> {
	const tenant = c.var.principal.tenant;
	const index = indexDatabase(c.env, tenant);
	try {
		const [metrics, figures] = await Promise.all([
			tenantMetrics(index, tenant, Date.now()),
			index.prepare("SELECT name, label, sum(value) AS value FROM session_metrics WHERE tenant = ? AND name = 'lookup_ms' GROUP BY name, label")
				.bind(tenant)
				.all<{ name: string; label: string; value: number }>(),
		]);
		return { ...metrics, figures: figures.results };
	} catch (error) {
		console.error(JSON.stringify({ level: "error", msg: "metrics query failed", error: String(error) }));
		throw new ApiError("dependency_unavailable", "The metrics index (D1) is unavailable; retry");
	}
}

metricsRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/v1/metrics",
		operationId: "getMetrics",
		tags: ["governance"],
		summary: "The tenant's operational figures",
		description:
			"Sessions by state, tokens and context utilization per session, compactions and how much they saved, resumes, restores, " +
			"approvals pending and escalated, and state and context lookup latency and errors. Computed from the D1 index, which each " +
			"session updates through its outbox about a second after the fact.",
		security: bearerSecurity,
		responses: { 200: json(MetricsReport, "The figures"), ...errorResponses(503) },
	}),
	async (c) => {
		const { figures: _figures, ...metrics } = await report(c);
		return c.json(metrics, 200);
	},
);

function prometheusText(metrics: MetricsReport, figures: Array<{ name: string; label: string; value: number }>): string {
	const tenant = `tenant="${metrics.tenant.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
	const lines: string[] = [];
	const metric = (name: string, type: string, help: string, samples: Array<[string, number | null]>) => {
		lines.push(`# HELP edge_context_${name} ${help}`, `# TYPE edge_context_${name} ${type}`);
		for (const [labels, value] of samples) if (value !== null) lines.push(`edge_context_${name}{${[tenant, labels].filter(Boolean).join(",")}} ${value}`);
	};
	metric("sessions", "gauge", "Sessions by state", Object.entries(metrics.sessions).map(([state, n]) => [`state="${state}"`, n]));
	const quantiles = (values: MetricsReport["tokensPerSession"]): Array<[string, number | null]> => [
		['quantile="0.5"', values.p50],
		['quantile="0.95"', values.p95],
		['quantile="0.99"', values.p99],
	];
	metric("session_tokens", "summary", "Tokens appended per active session", quantiles(metrics.tokensPerSession));
	metric("context_utilization", "summary", "Context tokens over the model window per active session", quantiles(metrics.contextUtilization));
	metric("compactions_last_hour", "gauge", "Compactions in the last hour", [["", metrics.compactions.lastHour]]);
	metric("compactions_total", "counter", "Compactions", [["", metrics.compactions.total]]);
	metric("compaction_reduction_ratio", "gauge", "Mean share of tokens a compaction removed", [["", metrics.compactions.reductionRatio]]);
	metric("resumes_total", "counter", "Paused sessions resumed", [["", metrics.resumes]]);
	metric("restores_total", "counter", "Restores to a checkpoint or version", [["", metrics.restores]]);
	metric("approvals_pending", "gauge", "Approvals waiting for a decision", [["", metrics.approvals.pending]]);
	metric("escalations_total", "counter", "Escalations raised", [["", metrics.approvals.escalated]]);
	lines.push("# HELP edge_context_lookup_duration_ms State and context lookup latency seen by the Worker", "# TYPE edge_context_lookup_duration_ms histogram");
	for (const operation of ["state", "context"] as const) {
		for (const bucket of lookupBuckets(figures, operation)) lines.push(`edge_context_lookup_duration_ms_bucket{${tenant},operation="${operation}",le="${bucket.le}"} ${bucket.count}`);
		lines.push(`edge_context_lookup_duration_ms_count{${tenant},operation="${operation}"} ${metrics.lookups[operation].count}`);
	}
	metric(
		"lookup_errors_total",
		"counter",
		"Failed lookups by error code",
		(["state", "context"] as const).flatMap((operation) => Object.entries(metrics.lookups[operation].errors).map(([code, n]): [string, number] => [`operation="${operation}",code="${code}"`, n])),
	);
	return `${lines.join("\n")}\n`;
}

metricsRoutes.openapi(
	createRoute({
		method: "get",
		...requires("admin", { tenantWide: true }),
		path: "/metrics",
		operationId: "getPrometheusMetrics",
		tags: ["governance"],
		summary: "The same figures in the Prometheus text format, for a scraper holding an admin key",
		security: bearerSecurity,
		responses: { 200: { description: "Prometheus exposition format 0.0.4", content: { "text/plain": { schema: z.string() } } }, ...errorResponses(503) },
	}),
	async (c) => {
		const { figures, ...metrics } = await report(c);
		return c.text(prometheusText(metrics, figures), 200, { "content-type": "text/plain; version=0.0.4" });
	},
);
