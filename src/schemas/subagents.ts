import { z } from "@hono/zod-openapi";
import { type Json, JsonValue, SessionId, Timestamp, Version, json } from "./common";

/** A result schema larger than this is more likely a mistake than a contract. */
const MAX_SCHEMA_BYTES = 64 * 1024;

export const CreateSubagentBody = z
	.object({
		id: SessionId.optional().openapi({ description: "The child session's id; generated when absent" }),
		agent: z.string().min(1).max(200).optional(),
		task: z.string().min(1).max(20_000),
		contextMaxTokens: z.number().int().min(0).max(200_000).openapi({ description: "The slice of the parent's context the child is seeded with, in tokens (0: none)" }),
		resultSchema: z
			.record(z.string(), json())
			.refine((schema) => new TextEncoder().encode(JSON.stringify(schema)).length <= MAX_SCHEMA_BYTES, { message: `at most ${MAX_SCHEMA_BYTES} bytes of JSON` })
			.openapi({ description: "JSON Schema (2020-12) the result must satisfy" }),
		maxResultTokens: z.number().int().min(1).max(200_000),
		timeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600),
	})
	.strict()
	.openapi("CreateSubagent");
export type CreateSubagentBody = z.infer<typeof CreateSubagentBody>;

export const SubagentStatus = z.enum(["running", "completed", "timed_out"]);
export type SubagentStatus = z.infer<typeof SubagentStatus>;

export const Subagent = z
	.object({
		id: SessionId,
		parentId: SessionId,
		agent: z.string().nullable(),
		task: z.string(),
		status: SubagentStatus,
		maxResultTokens: z.number().int().max(Number.MAX_SAFE_INTEGER),
		deadline: Timestamp,
		result: json().optional(),
		resultTokens: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable(),
		finishedAt: Timestamp.nullable(),
		version: Version.openapi({ description: "The child session's version" }),
	})
	.openapi("Subagent");
export type Subagent = z.infer<typeof Subagent>;

export const SubmitResultBody = z.object({ result: JsonValue }).strict().openapi("SubmitSubagentResult");
export type SubmitResultBody = z.infer<typeof SubmitResultBody>;

/** What a child tells its parent once it is finished: the parent records it as one event. */
export interface SubagentOutcome {
	childId: string;
	agent: string | null;
	task: string;
	status: Exclude<SubagentStatus, "running">;
	result?: Json;
	resultTokens: number | null;
	finishedAt: string;
	childVersion: number;
}
