import { z } from "@hono/zod-openapi";

const Count = z.number().int().max(Number.MAX_SAFE_INTEGER);
const Quantiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable(), max: z.number().nullable() });

export const LookupFigures = z.object({
	count: Count,
	p50Ms: z.number().nullable().openapi({ description: "Upper bound of the histogram bucket the median falls in" }),
	p95Ms: z.number().nullable(),
	p99Ms: z.number().nullable(),
	errors: z.record(z.string(), Count).openapi({ description: "Failed lookups by error code" }),
});

export const MetricsReport = z
	.object({
		tenant: z.string(),
		generatedAt: z.string(),
		sessions: z.object({ active: Count, paused: Count, deleted: Count }),
		tokensPerSession: Quantiles.openapi({ description: "All tokens appended per active session" }),
		contextUtilization: Quantiles.openapi({ description: "Context tokens over the model window, per active session (0..1+)" }),
		compactions: z.object({
			lastHour: Count,
			total: Count,
			reductionRatio: z.number().nullable().openapi({ description: "Mean share of tokens a compaction removed (1 - after/before)" }),
		}),
		resumes: Count,
		restores: Count,
		approvals: z.object({ pending: Count, escalated: Count }),
		lookups: z.object({ state: LookupFigures, context: LookupFigures }),
	})
	.openapi("Metrics");
export type MetricsReport = z.infer<typeof MetricsReport>;
