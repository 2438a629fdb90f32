import { z } from "@hono/zod-openapi";
import { ContentRef, JsonValue, Metadata, Timestamp, Version } from "./common";

export const EventType = z.enum(["message", "tool_call", "tool_result", "error", "decision", "note"]);
export type EventType = z.infer<typeof EventType>;
export const Role = z.enum(["system", "user", "assistant", "tool"]);

export const EventInput = z
	.object({
		type: EventType,
		role: Role.optional().openapi({ description: "Required for messages" }),
		name: z.string().min(1).max(200).optional().openapi({ description: "Tool name for tool calls and results" }),
		toolCallId: z.string().min(1).max(200).optional(),
		content: JsonValue,
		metadata: Metadata.optional(),
	})
	.strict()
	.superRefine((event, ctx) => {
		if (event.type === "message" && event.role === undefined) {
			ctx.addIssue({ code: "custom", path: ["role"], message: "a message needs a role" });
		}
	})
	.openapi("EventInput");
export type EventInput = z.infer<typeof EventInput>;

export const MAX_EVENTS_PER_APPEND = 500;

export const AppendEventsBody = z
	.object({
		events: z.array(EventInput).min(1).max(MAX_EVENTS_PER_APPEND),
		expectedVersion: Version.optional(),
	})
	.strict()
	.openapi("AppendEvents");
export type AppendEventsBody = z.infer<typeof AppendEventsBody>;

export const AppendResult = z
	.object({
		version: Version,
		firstSeq: z.number().int(),
		lastSeq: z.number().int(),
		events: z.array(
			z.object({ seq: z.number().int(), tokens: z.number().int(), contentRef: ContentRef.optional() }),
		),
	})
	.openapi("AppendResult");
export type AppendResult = z.infer<typeof AppendResult>;

export const Event = z
	.object({
		seq: z.number().int(),
		version: Version,
		type: EventType,
		role: Role.optional(),
		name: z.string().optional(),
		toolCallId: z.string().optional(),
		content: z.unknown().optional().openapi({ description: "Absent when contentRef is set and not expanded" }),
		contentRef: ContentRef.optional(),
		metadata: z.record(z.string(), z.unknown()).optional(),
		tokens: z.number().int(),
		createdAt: Timestamp,
	})
	.openapi("Event");
export type Event = z.infer<typeof Event>;

const typeList = z
	.string()
	.transform((value) => value.split(",").filter(Boolean))
	.pipe(z.array(EventType));

export const ListEventsQuery = z.object({
	after: z.coerce.number().int().min(0).default(0).openapi({ description: "Return events with seq greater than this" }),
	limit: z.coerce.number().int().min(1).max(1000).default(100),
	types: typeList.optional().openapi({ type: "string", description: "Comma-separated event types" }),
	includeContent: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ description: "Inline the full content of events stored in R2" }),
});
export type ListEventsQuery = z.infer<typeof ListEventsQuery>;

export const EventPage = z
	.object({
		events: z.array(Event),
		nextAfter: z.number().int().nullable().openapi({ description: "Pass as `after` for the next page" }),
	})
	.openapi("EventPage");
export type EventPage = z.infer<typeof EventPage>;
