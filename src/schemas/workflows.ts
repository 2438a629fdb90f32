import { z } from "@hono/zod-openapi";
import { JsonValue, SessionId, StateName, Timestamp, json } from "./common";

export const MAX_WORKFLOW_STEPS = 500;

export const WorkflowName = StateName;
export const StepId = StateName;

export const WorkflowStepInput = z
	.object({
		id: StepId,
		action: z.string().min(1).max(500).openapi({ description: "What the step does, as the agent will read it" }),
		input: JsonValue.optional(),
		after: z.array(StepId).max(MAX_WORKFLOW_STEPS).optional().openapi({ description: "Steps that must be completed or skipped first; default: the previous step" }),
	})
	.strict()
	.openapi("WorkflowStepInput");

export const PutWorkflowBody = z
	.object({
		steps: z.array(WorkflowStepInput).min(1).max(MAX_WORKFLOW_STEPS),
		maxAttempts: z.number().int().min(1).max(100).default(3),
	})
	.strict()
	.superRefine((body, ctx) => {
		const ids = new Map<string, number>();
		for (const [index, step] of body.steps.entries()) {
			if (ids.has(step.id)) ctx.addIssue({ code: "custom", path: ["steps", index, "id"], message: `duplicate step id ${step.id}` });
			ids.set(step.id, index);
		}
		for (const [index, step] of body.steps.entries()) {
			for (const [position, dependency] of (step.after ?? []).entries()) {
				if (!ids.has(dependency)) ctx.addIssue({ code: "custom", path: ["steps", index, "after", position], message: `no step ${dependency}` });
			}
		}
		const cycle = findCycle(body.steps);
		if (cycle) ctx.addIssue({ code: "custom", path: ["steps", ids.get(cycle[0]) ?? 0, "after"], message: `cycle: ${cycle.join(" → ")}` });
	})
	.openapi("PutWorkflow");
export type PutWorkflowBody = z.infer<typeof PutWorkflowBody>;

/** The steps each step waits for: its `after`, else the step before it. */
export function dependenciesOf(steps: ReadonlyArray<{ id: string; after?: string[] }>, index: number): string[] {
	const step = steps[index];
	if (step.after) return step.after;
	return index === 0 ? [] : [steps[index - 1].id];
}

function findCycle(steps: ReadonlyArray<{ id: string; after?: string[] }>): string[] | null {
	const index = new Map(steps.map((step, position) => [step.id, position]));
	const state = new Map<string, "visiting" | "done">();
	const path: string[] = [];
	const visit = (id: string): string[] | null => {
		if (state.get(id) === "done") return null;
		if (state.get(id) === "visiting") return [...path.slice(path.indexOf(id)), id];
		state.set(id, "visiting");
		path.push(id);
		const position = index.get(id);
		for (const dependency of position === undefined ? [] : dependenciesOf(steps, position)) {
			if (!index.has(dependency)) continue;
			const found = visit(dependency);
			if (found) return found;
		}
		path.pop();
		state.set(id, "done");
		return null;
	};
	for (const step of steps) {
		const found = visit(step.id);
		if (found) return found;
	}
	return null;
}

export const StepStatus = z.enum(["pending", "in_progress", "completed", "failed", "skipped"]);
export const WorkflowStatus = z.enum(["running", "waiting", "completed", "failed"]);

export const StepError = z
	.object({
		message: z.string().min(1).max(4000),
		kind: z.string().min(1).max(200).optional(),
		detail: JsonValue.optional(),
	})
	.strict()
	.openapi("StepError");

export const WorkflowStep = z
	.object({
		id: StepId,
		action: z.string(),
		input: json().optional(),
		after: z.array(StepId).optional(),
		status: StepStatus,
		attempts: z.number().int().max(Number.MAX_SAFE_INTEGER),
		result: json().optional(),
		lastError: z.object({ message: z.string(), kind: z.string().optional(), detail: json().optional() }).optional(),
		lesson: z.string().optional(),
		claimedBy: z.string().optional(),
		claimExpiresAt: Timestamp.optional(),
		blockedBy: z.string().optional().openapi({ description: "The pending approval this step waits for" }),
		startedAt: Timestamp.optional(),
		completedAt: Timestamp.optional(),
		skipReason: z.string().optional(),
	})
	.openapi("WorkflowStep");
export type WorkflowStep = z.infer<typeof WorkflowStep>;

export const NextStep = z.object({ id: StepId, action: z.string(), attempt: z.number().int().max(Number.MAX_SAFE_INTEGER) }).openapi("NextStep");

export const Workflow = z
	.object({
		name: WorkflowName,
		status: WorkflowStatus,
		maxAttempts: z.number().int().max(Number.MAX_SAFE_INTEGER),
		steps: z.array(WorkflowStep),
		next: NextStep.nullable(),
		createdAt: Timestamp,
		updatedAt: Timestamp,
		version: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "The session version of the workflow's last change" }),
	})
	.openapi("Workflow");
export type Workflow = z.infer<typeof Workflow>;

export const WorkflowList = z.object({ workflows: z.array(Workflow) }).openapi("WorkflowList");

export const StartStepBody = z
	.object({
		by: z.string().min(1).max(200).openapi({ description: "Who runs the step (an agent or replica id)" }),
		claimSeconds: z.number().int().min(1).max(86_400).default(300),
	})
	.strict()
	.openapi("StartStep");
export type StartStepBody = z.infer<typeof StartStepBody>;

/** Who reports the outcome: when given, it must be the step's claimant (a taken-over claim is refused). */
const ReportedBy = z.string().min(1).max(200).optional().openapi({ description: "The claimant reporting; refused with 409 if its claim was taken over" });

export const CompleteStepBody = z.object({ result: JsonValue.optional(), by: ReportedBy }).strict().openapi("CompleteStep");
export type CompleteStepBody = z.infer<typeof CompleteStepBody>;

export const FailStepBody = z
	.object({ error: StepError, lesson: z.string().min(1).max(2000).optional().openapi({ description: "What the next attempt should do differently" }), by: ReportedBy })
	.strict()
	.openapi("FailStep");
export type FailStepBody = z.infer<typeof FailStepBody>;

export const SkipStepBody = z.object({ reason: z.string().min(1).max(2000) }).strict().openapi("SkipStep");
export type SkipStepBody = z.infer<typeof SkipStepBody>;

export const WorkflowParams = z.object({
	id: SessionId.openapi({ param: { name: "id", in: "path" } }),
	name: WorkflowName.openapi({ param: { name: "name", in: "path" } }),
});
export const StepParams = WorkflowParams.extend({ step: StepId.openapi({ param: { name: "step", in: "path" } }) });
