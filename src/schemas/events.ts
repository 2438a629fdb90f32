import { z } from "@hono/zod-openapi";
import { ContentRef, csv, csvPattern, JsonValue, Metadata, Timestamp, Version, json } from "./common";

export const EventType = z.enum([
	"message",
	"tool_call",
	"tool_result",
	"error",
	"decision",
	"note",
	"escalation",
	"handoff_in",
	"handoff_out",
	"subagent_task",
	"subagent_result",
	"subagent_timeout",
]);
/** Event types only the service writes: an agent cannot append them. */
export const SERVICE_EVENT_TYPES: readonly EventType[] = ["escalation", "handoff_in", "handoff_out", "subagent_task", "subagent_result", "subagent_timeout"];
export type EventType = z.infer<typeof EventType>;
export const Role = z.enum(["system", "user", "assistant", "tool"]);

/** Token usage the model provider reported for the call this event records. */
export const Usage = z
	.object({
		inputTokens: z.number().int().min(0).max(100_000_000).optional(),
		outputTokens: z.number().int().min(0).max(100_000_000).optional(),
	})
	.strict()
	.openapi("Usage");

const eventFields = {
	name: z.string().min(1).max(200).optional().openapi({ description: "Tool name for tool calls and results" }),
	toolCallId: z.string().min(1).max(200).optional(),
	content: JsonValue,
	metadata: Metadata.optional(),
	pinned: z.boolean().optional().openapi({ description: "Always in the context window, never compacted" }),
	usage: Usage.optional(),
};

/** What an event of the log holds, whoever wrote it: the service also writes escalations. */
export const RecordedEvent = z.object({ type: EventType, role: Role.optional(), ...eventFields }).strict();
export type RecordedEvent = z.infer<typeof RecordedEvent>;

/** What an agent may append: a message (which needs a role) or any other agent event type. */
export const EventInput = z
	.discriminatedUnion("type", [
		z.object({ type: z.literal("message"), role: Role, ...eventFields }).strict().openapi("MessageEventInput"),
		z
			.object({ type: EventType.exclude(["message", ...SERVICE_EVENT_TYPES]), role: Role.optional(), ...eventFields })
			.strict()
			.openapi("OtherEventInput"),
	])
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
		firstSeq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		lastSeq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		events: z.array(
			z.object({ seq: z.number().int().max(Number.MAX_SAFE_INTEGER), tokens: z.number().int().max(Number.MAX_SAFE_INTEGER), contentRef: ContentRef.optional() }),
		),
	})
	.openapi("AppendResult");
export type AppendResult = z.infer<typeof AppendResult>;

export const Event = z
	.object({
		seq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		version: Version,
		type: EventType,
		role: Role.optional(),
		name: z.string().optional(),
		toolCallId: z.string().optional(),
		content: json().optional().openapi({ description: "Absent when contentRef is set and not expanded" }),
		contentRef: ContentRef.optional(),
		metadata: z.record(z.string(), json()).optional(),
		pinned: z.boolean().optional(),
		usage: Usage.optional(),
		tokens: z.number().int().max(Number.MAX_SAFE_INTEGER),
		archived: z.boolean().optional().openapi({ description: "Compacted out of hot storage; read from its R2 archive" }),
		rewound: z.boolean().optional().openapi({ description: "Left out of the context by a restore to an earlier checkpoint" }),
		retracted: z.boolean().optional().openapi({ description: "Hidden by POST …/events/retract (listed only with includeRetracted=true)" }),
		createdAt: Timestamp,
	})
	.openapi("Event");
export type Event = z.infer<typeof Event>;

export const ListEventsQuery = z.object({
	live: z.enum(["sse", "long-poll"]).optional().openapi({
		description:
			"Follow the session: `sse` streams the events after `offset` then each committed event (SSE ids are seqs; reconnect with " +
			"Last-Event-ID), `long-poll` answers at once if there are events after `offset`, else at the next commit (or empty after ~25 s)",
	}),
	offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ type: "integer", description: "With `live`: the seq to follow after (default: `after`)" }),
	after: z.coerce.number().int().max(Number.MAX_SAFE_INTEGER).min(0).default(0).openapi({ type: "integer", description: "Return events with seq greater than this" }),
	limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: "integer" }),
	types: csv(EventType).optional().openapi({ type: "string", pattern: csvPattern(EventType.options.join("|")), description: "Comma-separated event types" }),
	includeContent: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({
			description:
				"Inline the full content of events stored in R2. A page then ends early, with nextAfter set, once the inlined content " +
				"passes 8 MiB (at least one event is always returned).",
		}),
	includeArchived: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ description: "Include compacted events, read back from their R2 archives" }),
	includeRetracted: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ description: "Include events a retraction hid (marked `retracted`): the log keeps them" }),
});
export type ListEventsQuery = z.infer<typeof ListEventsQuery>;

export const EventPage = z
	.object({
		events: z.array(Event),
		nextAfter: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable().openapi({ description: "Pass as `after` for the next page" }),
	})
	.openapi("EventPage");
export type EventPage = z.infer<typeof EventPage>;

export const MAX_EXPECTED_TAIL = 1000;

export const RetractEventsBody = z
	.object({
		fromSeq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ description: "Hide every event in effect from this seq on" }),
		expectSeqs: z
			.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER))
			.max(MAX_EXPECTED_TAIL)
			.optional()
			.openapi({ description: "Compare-and-set: the seqs in effect from fromSeq on must be exactly these (409 tail_changed otherwise)" }),
		events: z.array(EventInput).min(1).max(MAX_EVENTS_PER_APPEND).optional().openapi({ description: "Replacements appended in the same write" }),
		expectedVersion: Version.optional(),
	})
	.strict()
	.openapi("RetractEvents");
export type RetractEventsBody = z.infer<typeof RetractEventsBody>;

export const RetractResult = z
	.object({
		version: Version,
		retracted: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "How many events this hid" }),
		appended: AppendResult.nullable(),
	})
	.openapi("RetractResult");
export type RetractResult = z.infer<typeof RetractResult>;
