import { z } from "@hono/zod-openapi";
import { ContentRef, csv, csvPattern, SessionId, StateName, Timestamp, Version, json } from "./common";
import { EventType, Role } from "./events";

/** The share of a window's budget its layers take together, unless a request says otherwise. */
export const DEFAULT_LAYER_SHARE = 0.25;

export const ContextQuery = z.object({
	budget: z.coerce.number().int().min(1).max(10_000_000).openapi({ type: "integer", description: "Token budget of the window" }),
	at: z.coerce.number().int().max(Number.MAX_SAFE_INTEGER).min(1).optional().openapi({ type: "integer", description: "Rebuild the window as it was at this session version" }),
	types: csv(EventType).optional().openapi({ type: "string", pattern: csvPattern(EventType.options.join("|")), description: "Only events of these types (comma-separated)" }),
	namespaces: csv(StateName).optional().openapi({ type: "string", pattern: csvPattern("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"), description: "Only state of these namespaces (comma-separated)" }),
	layers: z
		.string()
		.regex(/^(all|[a-z][a-z0-9_-]{0,63}(,[a-z][a-z0-9_-]{0,63})*)$/, "layer names, comma-separated, or all")
		.optional()
		.openapi({ description: "Linked layers to include (PATCH the session's `links`), comma-separated, or `all`: each contributes its pinned items, state digest and summary, labelled with its source" }),
	layerShare: z.coerce
		.number()
		.min(0.05)
		.max(0.9)
		.optional()
		.openapi({ type: "number", description: `The share of the budget the layers may take together, split evenly among them (default ${DEFAULT_LAYER_SHARE})` }),
});
export type ContextQuery = z.infer<typeof ContextQuery>;

export const ContextItem = z
	.object({
		kind: z.enum(["pinned_state", "pinned_event", "work_status", "state_digest", "summary", "event"]),
		tokens: z.number().int().max(Number.MAX_SAFE_INTEGER),
		seq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		type: EventType.optional(),
		role: Role.optional(),
		name: z.string().optional(),
		toolCallId: z.string().optional(),
		ns: z.string().optional(),
		key: z.string().optional(),
		content: json().optional().openapi({ description: "The event content, state value, digest or summary text" }),
		contentRef: ContentRef.optional().openapi({ description: "Large content: only its preview counts in the window" }),
		throughSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: "For a summary: the last seq it covers" }),
		source: z
			.object({ layer: z.string(), sessionId: SessionId })
			.optional()
			.openapi({ description: "For an item from a linked layer: which layer and session it comes from" }),
	})
	.openapi("ContextItem");
export type ContextItem = z.infer<typeof ContextItem>;

export const Omission = z
	.object({
		kind: z.enum(["event", "state", "summary", "work_status", "layer"]),
		reason: z.enum(["budget", "compacted"]),
		count: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		beforeSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: "Events older than this seq were left out" }),
	})
	.openapi("Omission");
export type Omission = z.infer<typeof Omission>;

export const LayerUse = z
	.object({
		layer: z.string(),
		sessionId: SessionId,
		version: Version.nullable().openapi({ description: "The layer session's version its items reflect" }),
		budget: z.number().int().max(Number.MAX_SAFE_INTEGER),
		used: z.number().int().max(Number.MAX_SAFE_INTEGER),
		omitted: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Pinned items, digest lines or a summary left out for the budget (pinned items and digest lines are counted up to 100 past those taken)" }),
		unavailable: z.string().optional().openapi({ description: "Why the layer contributed nothing: session_deleted, session_not_found" }),
	})
	.openapi("LayerUse");
export type LayerUse = z.infer<typeof LayerUse>;

export const ContextWindow = z
	.object({
		version: Version.openapi({ description: "The session version this window reflects" }),
		budget: z.number().int().max(Number.MAX_SAFE_INTEGER),
		used: z.number().int().max(Number.MAX_SAFE_INTEGER),
		utilization: z.number(),
		items: z.array(ContextItem),
		omitted: z.array(Omission),
		layers: z
			.array(LayerUse)
			.optional()
			.openapi({ description: "With ?layers=: what each layer contributed, or why it could not" }),
	})
	.openapi("ContextWindow");
export type ContextWindow = z.infer<typeof ContextWindow>;

export const CompactBody = z
	.object({
		summary: z
			.string()
			.min(1)
			.max(200_000)
			.optional()
			.openapi({ description: "An agent-written summary to use instead of the deterministic compactor's" }),
		upToSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).min(1).optional().openapi({ description: "Compact events up to this seq (default: all but the recent ones)" }),
		expectedVersion: Version.optional(),
	})
	.strict()
	.openapi("Compact");
export type CompactBody = z.infer<typeof CompactBody>;

export const Compaction = z
	.object({
		id: z.number().int().max(Number.MAX_SAFE_INTEGER),
		version: Version,
		fromSeq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		toSeq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		archivedEvents: z.number().int().max(Number.MAX_SAFE_INTEGER),
		beforeTokens: z.number().int().max(Number.MAX_SAFE_INTEGER),
		afterTokens: z.number().int().max(Number.MAX_SAFE_INTEGER),
		ratio: z.number().openapi({ description: "afterTokens / beforeTokens" }),
		summarizer: z.enum(["deterministic", "agent"]),
		trigger: z.enum(["token_share", "elapsed", "milestone", "manual"]),
		archiveKey: z.string().nullable(),
		summary: z.string(),
		createdAt: Timestamp,
	})
	.openapi("Compaction");
export type Compaction = z.infer<typeof Compaction>;

export const CompactResult = z
	.object({ compacted: z.boolean(), compaction: Compaction.nullable(), reason: z.string().optional() })
	.openapi("CompactResult");
export type CompactResult = z.infer<typeof CompactResult>;

export const CheckpointName = z
	.string()
	.min(1)
	.max(128)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "use letters, digits and . _ : - (starting with a letter or digit)");

export const CreateCheckpointBody = z.object({ name: CheckpointName }).strict().openapi("CreateCheckpoint");

export const Checkpoint = z
	.object({ name: z.string(), version: Version, lastSeq: z.number().int().max(Number.MAX_SAFE_INTEGER), createdAt: Timestamp })
	.openapi("Checkpoint");
export type Checkpoint = z.infer<typeof Checkpoint>;

export const RestoreBody = z
	.object({
		checkpoint: CheckpointName.optional(),
		version: Version.min(1).optional(),
		expectedVersion: Version.optional(),
	})
	.strict()
	.refine((point) => (point.checkpoint === undefined) !== (point.version === undefined), {
		message: "give exactly one of checkpoint or version",
	})
	.openapi("Restore", { oneOf: [{ required: ["checkpoint"] }, { required: ["version"] }] });
export type RestoreBody = z.infer<typeof RestoreBody>;

export const RestoreResult = z
	.object({ version: Version, restoredTo: Version, rewoundEvents: z.number().int().max(Number.MAX_SAFE_INTEGER), stateChanges: z.number().int().max(Number.MAX_SAFE_INTEGER) })
	.openapi("RestoreResult");
export type RestoreResult = z.infer<typeof RestoreResult>;

export const ForkBody = z
	.object({
		id: SessionId.optional().openapi({ description: "The fork's id; generated when absent" }),
		checkpoint: CheckpointName.optional(),
		version: Version.min(1).optional(),
		agent: z.string().min(1).max(200).optional(),
	})
	.strict()
	.refine((point) => !(point.checkpoint !== undefined && point.version !== undefined), {
		message: "give at most one of checkpoint or version (default: the current version)",
	})
	.openapi("Fork", { not: { required: ["checkpoint", "version"] } });
export type ForkBody = z.infer<typeof ForkBody>;

export const ListCompactionsQuery = z.object({
	after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ type: "integer", description: "Return compactions with a higher id" }),
	limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ type: "integer" }),
});
export type ListCompactionsQuery = z.infer<typeof ListCompactionsQuery>;

export const CompactionPage = z
	.object({ compactions: z.array(Compaction), nextAfter: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable() })
	.openapi("CompactionPage");
export type CompactionPage = z.infer<typeof CompactionPage>;

export const ListCheckpointsQuery = z.object({
	after: CheckpointName.optional().openapi({ description: "Return checkpoints after this one (by version, then name)" }),
	limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: "integer" }),
});
export type ListCheckpointsQuery = z.infer<typeof ListCheckpointsQuery>;

export const CheckpointPage = z
	.object({ checkpoints: z.array(Checkpoint), nextAfter: CheckpointName.nullable() })
	.openapi("CheckpointPage");
export type CheckpointPage = z.infer<typeof CheckpointPage>;
