import { z } from "@hono/zod-openapi";
import { ContentRef, json, SessionId, StateName, Timestamp, Version } from "./common";
import { EventType } from "./events";

const DEFAULT_HANDOFF_TOKENS = 4000;

export const HandoffInclude = z
	.object({
		summary: z.boolean().default(true).openapi({ description: "Include the source's summary (required part: 422 budget_too_small when it does not fit)" }),
		stateNamespaces: z.array(StateName).max(50).optional().openapi({ description: "State namespaces to carry (default: none)" }),
		eventTypes: z.array(EventType).min(1).max(20).default(["decision", "error"]).openapi({ description: "Event types whose events become `decisions`" }),
		maxTokens: z.number().int().min(50).max(200_000).default(DEFAULT_HANDOFF_TOKENS).openapi({ description: "The package's size bound, in tokens" }),
	})
	.strict();

export const HandoffBody = z
	.object({
		to: z
			.object({
				agent: z.string().min(1).max(200),
				sessionId: SessionId.optional().openapi({ description: "Append to this session (created when it does not exist); default: a new session" }),
			})
			.strict(),
		task: z.string().min(1).max(20_000),
		include: HandoffInclude.default({ summary: true, eventTypes: ["decision", "error"], maxTokens: DEFAULT_HANDOFF_TOKENS }),
	})
	.strict()
	.openapi("Handoff");
export type HandoffBody = z.infer<typeof HandoffBody>;

export const HandoffRef = z
	.object({
		kind: z.enum(["blob", "archive"]),
		sessionId: SessionId.openapi({ description: "The session to read it from" }),
		seq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		ns: z.string().optional(),
		key: z.string().optional(),
		sha256: z.string().optional(),
		bytes: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		preview: z.string().optional(),
		fromSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		toSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
		events: z.number().int().max(Number.MAX_SAFE_INTEGER).optional(),
	})
	.openapi("HandoffRef", { description: "Large content by reference: a blob (GET …/blobs/{sha256}) or compacted events (GET …/events?includeArchived=true)" });
export type HandoffRef = z.infer<typeof HandoffRef>;

export const HandoffPackage = z
	.object({
		handoffId: z.string(),
		from: z.object({ sessionId: SessionId, agent: z.string().nullable(), version: Version }),
		to: z.object({ agent: z.string(), sessionId: SessionId }),
		task: z.string(),
		summary: z.string().nullable(),
		decisions: z.array(
			z.object({
				seq: z.number().int().max(Number.MAX_SAFE_INTEGER),
				type: EventType,
				content: json().optional(),
				contentRef: ContentRef.optional(),
				archived: z.boolean().optional(),
				createdAt: Timestamp,
			}),
		),
		openItems: z.array(z.string()),
		state: z.array(z.object({ ns: z.string(), key: z.string(), value: json().optional(), contentRef: ContentRef.optional() })),
		refs: z.array(HandoffRef),
		omitted: z.array(z.object({ part: z.enum(["decisions", "openItems", "state", "refs"]), count: z.number().int().max(Number.MAX_SAFE_INTEGER) })),
		tokens: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Tokens of the package as JSON, at most include.maxTokens" }),
		createdAt: Timestamp,
	})
	.openapi("HandoffPackage");
export type HandoffPackage = z.infer<typeof HandoffPackage>;

export const HandoffResult = z
	.object({
		handoffId: z.string(),
		from: z.object({ sessionId: SessionId, version: Version.openapi({ description: "The source's version after recording handoff_out" }) }),
		to: z.object({ agent: z.string(), sessionId: SessionId, version: Version, created: z.boolean() }),
		package: HandoffPackage,
	})
	.openapi("HandoffResult");
export type HandoffResult = z.infer<typeof HandoffResult>;

export const LineageKind = z.enum(["parent", "fork", "handoff", "subagent"]).openapi({ description: "parent: created with parentId (and no other link between the two)" });

export const LineageNode = z
	.object({
		id: SessionId,
		agent: z.string().nullable(),
		status: z.enum(["active", "deleted"]),
		closed: z.string().nullable().openapi({ description: "Why a subagent's session closed: completed or timed_out" }),
		createdAt: Timestamp,
	})
	.openapi("LineageNode");

export const LineageLink = z
	.object({
		kind: LineageKind,
		from: SessionId,
		to: SessionId,
		ref: z.string().nullable().openapi({ description: "The handoff id, or null" }),
		status: z.string().nullable().openapi({ description: "A subagent's: running, completed or timed_out" }),
		at: Timestamp,
	})
	.openapi("LineageLink");

export const Lineage = z
	.object({
		root: SessionId,
		sessions: z.array(LineageNode),
		links: z.array(LineageLink),
		truncated: z.boolean().openapi({ description: "More sessions are linked than one answer walks" }),
	})
	.openapi("Lineage");
export type Lineage = z.infer<typeof Lineage>;
