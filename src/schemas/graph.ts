/**
 * The LangGraph checkpointer's wire shapes (routes/graph.ts). Values are the saver's own
 * serialization, `{type, data}` with the bytes as base64: the service stores them as bytes and
 * never interprets them. Namespaces, channels and task ids are values, never path segments.
 */
import { z } from "@hono/zod-openapi";
import { csv, JsonValue, SessionId, Version } from "./common";
import { Role } from "./events";

/** At most this many channel values or writes in one request, and checkpoints in one page. */
export const MAX_GRAPH_ITEMS = 1000;
export const MAX_GRAPH_PAGE = 200;
/** A cross-thread listing reads at most this many threads. */
export const MAX_GRAPH_THREADS = 100;

const Name = (what: string) => z.string().max(1024).openapi({ description: what });
const Id = (what: string) => z.string().min(1).max(1024).openapi({ description: what });
const Base64 = z
	.string()
	.regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64")
	.refine((text) => text.length % 4 === 0, "base64 (padded)")
	.openapi({ description: "Bytes, base64 encoded" });
const ValueType = z.string().min(1).max(64).openapi({ description: "The serializer's type tag (json, bytes, ...)" });

/** A serialized value: the saver's type tag and its bytes. */
export const GraphValue = z.object({ type: ValueType, data: Base64 }).strict().openapi("GraphValue");
export type GraphValue = z.infer<typeof GraphValue>;

/** Metadata travels as its JSON text (listings filter on its top-level keys). */
const MetadataText = z
	.string()
	.max(64 * 1024)
	.refine((text) => {
		try {
			const parsed: unknown = JSON.parse(text);
			return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
		} catch {
			return false;
		}
	}, "a JSON object")
	.openapi({ description: "The checkpoint's metadata: a JSON object, as text" });

const ChannelVersion = z.union([z.string().min(1).max(256), z.number().finite()]);

/** Messages a put mirrors into the log, at most (the newest; earlier ones were mirrored by earlier puts). */
export const MAX_CONVERSATION_MESSAGES = 500;

export const GraphMessage = z
	.object({
		id: z.string().min(1).max(256),
		role: Role,
		content: JsonValue,
		name: z.string().min(1).max(200).optional(),
		toolCallId: z.string().min(1).max(200).optional(),
	})
	.strict()
	.openapi("GraphMessage");
export type GraphMessage = z.infer<typeof GraphMessage>;

export const GraphPutBody = z
	.object({
		checkpointNs: Name("The checkpoint namespace ('' for the root graph)").default(""),
		checkpointId: Id("The checkpoint's id (ids sort in creation order)"),
		parentCheckpointId: Id("The checkpoint this one follows").nullable().default(null),
		format: z.number().int().min(0).max(1000).openapi({ description: "The checkpoint format version (`checkpoint.v`)" }),
		checkpoint: GraphValue.openapi({ description: "The checkpoint without its channel values" }),
		channelVersions: z.record(z.string().max(1024), ChannelVersion).openapi({ description: "The checkpoint's channel versions: its values are the blobs at these versions" }),
		metadata: MetadataText,
		blobs: z
			.array(
				z
					.object({
						channel: Id("Channel"),
						version: z.string().min(1).max(256),
						type: ValueType.openapi({ description: "`empty` for a channel with no value at this version" }),
						data: Base64.optional(),
					})
					.strict(),
			)
			.max(MAX_GRAPH_ITEMS)
			.default([])
			.openapi({ description: "The values of the channels this checkpoint changed (new versions only)" }),
		conversation: z
			.array(GraphMessage)
			.max(MAX_CONVERSATION_MESSAGES)
			.default([])
			.openapi({
				description:
					"The root graph's messages as this checkpoint holds them: those not seen before are appended to the session's log " +
					"as message events (by id, once), so the context window shows the conversation and not the graph's bookkeeping",
			}),
	})
	.strict()
	.openapi("GraphPut");
export type GraphPutBody = z.infer<typeof GraphPutBody>;

export const GraphWritesBody = z
	.object({
		checkpointNs: Name("The checkpoint namespace").default(""),
		checkpointId: Id("The checkpoint the writes are pending on"),
		taskId: Id("The task that wrote them"),
		taskPath: z.string().max(4096).default(""),
		writes: z
			.array(z.object({ channel: Id("Channel"), idx: z.number().int().min(-1000).max(1_000_000), type: ValueType, data: Base64 }).strict())
			.min(1)
			.max(MAX_GRAPH_ITEMS)
			.openapi({ description: "Regular writes (idx >= 0) keep the first value stored; special ones (idx < 0: error, interrupt, resume, ...) are replaced" }),
	})
	.strict()
	.openapi("GraphWrites");
export type GraphWritesBody = z.infer<typeof GraphWritesBody>;

export const GraphWriteResult = z.object({ version: Version }).openapi("GraphWriteResult");
export type GraphWriteResult = z.infer<typeof GraphWriteResult>;

export const GraphTuple = z
	.object({
		threadId: SessionId,
		checkpointNs: z.string(),
		checkpointId: z.string(),
		parentCheckpointId: z.string().nullable(),
		format: z.number().int(),
		checkpoint: GraphValue,
		metadata: z.string().openapi({ description: "JSON text" }),
		blobs: z.array(z.object({ channel: z.string(), version: z.string(), type: z.string(), data: z.string() })).openapi({ description: "The channel values at the checkpoint's versions (empty ones left out)" }),
		writes: z.array(z.object({ taskId: z.string(), idx: z.number().int(), channel: z.string(), type: z.string(), data: z.string(), taskPath: z.string() })),
		parentSends: z.array(GraphValue).optional().openapi({ description: "For a checkpoint in a format before 4: the sends pending on its parent" }),
	})
	.openapi("GraphTuple");
export type GraphTuple = z.infer<typeof GraphTuple>;

export const GraphTupleQuery = z.object({
	checkpointNs: z.string().max(1024).default(""),
	checkpointId: z.string().min(1).max(1024).optional().openapi({ description: "Default: the namespace's latest checkpoint" }),
});
export type GraphTupleQuery = z.infer<typeof GraphTupleQuery>;

const Filter = z
	.string()
	.max(8 * 1024)
	.transform((text, context) => {
		try {
			const parsed: unknown = JSON.parse(text);
			const plain = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
			// Keys become JSON paths in SQL: quotes and backslashes cannot be part of one.
			if (plain && Object.keys(parsed).length <= 20 && Object.keys(parsed).every((key) => !/["\\]/.test(key))) return parsed as Record<string, {} | null>;
		} catch {
			// Reported below.
		}
		context.addIssue({ code: "custom", message: "filter must be a JSON object of at most 20 keys without quotes or backslashes" });
		return z.NEVER;
	})
	.openapi({ type: "string", description: 'Metadata filter as a JSON object: every top-level key must equal its value, e.g. {"source":"loop"}' });

export const GraphListQuery = z.object({
	checkpointNs: z.string().max(1024).optional().openapi({ description: "Default: every namespace" }),
	before: z.string().min(1).max(1024).optional().openapi({ description: "Only checkpoints with an id below this one" }),
	limit: z.coerce.number().int().min(1).max(MAX_GRAPH_PAGE).default(MAX_GRAPH_PAGE),
	filter: Filter.optional(),
});
export type GraphListQuery = z.infer<typeof GraphListQuery>;

export const GraphSearchQuery = GraphListQuery.extend({
	threads: csv(SessionId)
		.optional()
		.openapi({ type: "string", description: `Comma-separated thread ids to read besides those the index knows (a saver's own recent threads); at most ${MAX_GRAPH_THREADS} threads are read in all` }),
});
export type GraphSearchQuery = z.infer<typeof GraphSearchQuery>;

export const GraphTupleResult = z.object({ tuple: z.union([GraphTuple, z.null()]).openapi({ description: "null when the namespace has no such checkpoint" }) }).openapi("GraphTupleResult");
export type GraphTupleResult = z.infer<typeof GraphTupleResult>;

export const GraphPage = z.object({ checkpoints: z.array(GraphTuple).openapi({ description: "Newest checkpoint id first" }) }).openapi("GraphPage");
export type GraphPage = z.infer<typeof GraphPage>;
