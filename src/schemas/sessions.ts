import { z } from "@hono/zod-openapi";
import { Metadata, SessionId, Timestamp, Version, json } from "./common";
import { EventType } from "./events";

export const SessionStatus = z.enum(["active", "deleted"]);

export const RetentionPolicy = z
	.object({
		deleteAfterDays: z.number().int().min(1).max(36_500).optional().openapi({ description: "Delete the session this many days after its creation" }),
		idleDays: z.number().int().min(1).max(3650).optional().openapi({ description: "Delete the session after this many days without a write" }),
		archiveAfterDays: z
			.number()
			.int()
			.min(0)
			.max(3650)
			.optional()
			.openapi({
				description:
					"Move events older than this out of the session's storage into R2 segments; they stay readable (includeArchived is not needed) and in the window. 0: as soon as possible",
			}),
	})
	.strict()
	.openapi("RetentionPolicy", { description: "Deletion is the same as DELETE (content purged everywhere, a tombstone kept); archiving changes no version" });

/** Per-session settings; absent fields take the deployment's defaults. */
export const SessionPolicy = z
	.object({
		inlineLimitBytes: z
			.number()
			.int()
			.min(1024)
			.max(1024 * 1024)
			.optional()
			.openapi({ description: "Content larger than this (JSON bytes) is stored in R2; default 16 KiB" }),
		tokenizer: z
			.enum(["o200k_base", "cl100k_base"])
			.optional()
			.openapi({ description: "Encoding used to count tokens: o200k_base (GPT-4o family, default) or cl100k_base" }),
		modelWindowTokens: z
			.number()
			.int()
			.min(1024)
			.max(10_000_000)
			.optional()
			.openapi({ description: "The model's context window; default 128000" }),
		compactAtShare: z
			.number()
			.min(0.05)
			.max(0.95)
			.optional()
			.openapi({ description: "Compact when the context reaches this share of the model window; default 0.6" }),
		compactAfterSeconds: z
			.number()
			.int()
			.min(60)
			.max(365 * 24 * 3600)
			.optional()
			.openapi({ description: "Also compact this long after the last compaction (or creation), if anything is compactable" }),
		milestoneTypes: z
			.array(EventType)
			.max(6)
			.optional()
			.openapi({ description: "Appending an event of one of these types triggers a compaction" }),
		keepRecentEvents: z
			.number()
			.int()
			.min(0)
			.max(10_000)
			.optional()
			.openapi({ description: "The newest events are never compacted; default 20" }),
		retention: RetentionPolicy.optional(),
		keepTypes: z
			.array(EventType)
			.max(6)
			.optional()
			.openapi({ description: "Event types kept verbatim through compaction; default decision and error" }),
	})
	.strict()
	.openapi("SessionPolicy");
export type SessionPolicy = z.infer<typeof SessionPolicy>;
export type RetentionPolicy = z.infer<typeof RetentionPolicy>;

export const CreateSessionBody = z
	.object({
		id: SessionId.optional().openapi({ description: "Client-chosen id; generated when absent" }),
		agent: z.string().min(1).max(200).optional(),
		subject: z.string().min(1).max(200).optional(),
		parentId: SessionId.optional(),
		metadata: Metadata.optional(),
		policy: SessionPolicy.optional(),
	})
	.strict()
	.openapi("CreateSession");
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

export const Session = z
	.object({
		id: SessionId,
		forkedFrom: z.object({ sessionId: SessionId, version: Version }).nullable(),
		status: SessionStatus,
		agent: z.string().nullable(),
		subject: z.string().nullable(),
		parentId: z.string().nullable(),
		metadata: z.record(z.string(), json()),
		policy: SessionPolicy,
		version: Version,
		eventCount: z.number().int().max(Number.MAX_SAFE_INTEGER),
		lastSeq: z.number().int().max(Number.MAX_SAFE_INTEGER),
		stateKeyCount: z.number().int().max(Number.MAX_SAFE_INTEGER),
		tokens: z.object({
			total: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "All tokens ever appended, full content counted" }),
			context: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({
				description: "Estimated tokens of the current context (provider-reported usage when known); drives compaction",
			}),
			reportedInput: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable().openapi({ description: "Latest input token count reported by the provider" }),
		}),
		compactions: z.number().int().max(Number.MAX_SAFE_INTEGER),
		lease: z.object({ holder: z.string(), expiresAt: Timestamp }).nullable(),
		projection: z.object({
			pending: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Changes not yet visible in the D1 index" }),
			lastError: z.string().nullable(),
		}),
		paused: z
			.object({ since: Timestamp, reason: z.string(), until: Timestamp.nullable() })
			.nullable()
			.openapi({ description: "Set while the session is paused: agent writes get 423 session_paused" }),
		closed: z
			.object({ at: Timestamp, reason: z.string() })
			.nullable()
			.openapi({ description: "Set once a subagent's session has answered or timed out: agent writes then get 409 session_closed" }),
		links: z.record(z.string(), z.string()).openapi({ description: "Layer name → session id: sessions whose context a window may include (?layers=)" }),
		deadLetters: z
			.array(
				z.object({
					kind: z.string(),
					key: z.string(),
					attempts: z.number().int().max(Number.MAX_SAFE_INTEGER),
					lastError: z.string().nullable(),
					parkedAt: Timestamp,
				}),
			)
			.openapi({
				description: "Background work that failed too many times in a row and waits; the next request for it retries",
			}),
		createdAt: Timestamp,
		updatedAt: Timestamp,
		storage: z
			.object({
				hotBytes: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Size of the session object's SQLite database" }),
				archivedBytes: z
					.number()
					.int()
					.max(Number.MAX_SAFE_INTEGER)
					.openapi({ description: "Content in R2: large values and compaction archives" }),
			})
			.optional()
			.openapi({ description: "On GET /v1/sessions/{id} only" }),
	})
	.openapi("Session");
export type Session = z.infer<typeof Session>;

export const DeletedSession = z
	.object({
		id: SessionId,
		status: z.literal("deleted"),
		deletedAt: Timestamp,
		purge: z.enum(["complete", "pending"]).openapi({
			description: "pending: the D1 index or R2 could not be reached yet; the object retries until done",
		}),
	})
	.openapi("DeletedSession");
export type DeletedSession = z.infer<typeof DeletedSession>;

export const ListSessionsQuery = z.object({
	agent: z.string().max(200).optional(),
	subject: z.string().max(200).optional(),
	status: SessionStatus.optional(),
	parentId: SessionId.optional(),
	updatedAfter: z.iso.datetime({ offset: true }).optional(),
	updatedBefore: z.iso.datetime({ offset: true }).optional(),
	limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ type: "integer" }),
	cursor: z.string().max(512).optional(),
});
export type ListSessionsQuery = z.infer<typeof ListSessionsQuery>;

/** What the D1 index knows of a session: enough to find it, eventually consistent. */
export const SessionSummary = Session.pick({
	id: true,
	status: true,
	agent: true,
	subject: true,
	parentId: true,
	version: true,
	eventCount: true,
	createdAt: true,
	updatedAt: true,
})
	.extend({ tokensTotal: z.number().int().max(Number.MAX_SAFE_INTEGER), deletedAt: Timestamp.nullable() })
	.openapi("SessionSummary");

export const SessionList = z
	.object({
		sessions: z.array(SessionSummary),
		nextCursor: z.string().nullable(),
	})
	.openapi("SessionList");

/** How many layers a session may link: each is one more object a layered window reads. */
export const MAX_LAYERS = 8;
export const LayerName = z
	.string()
	.min(1)
	.max(64)
	.regex(/^[a-z][a-z0-9_-]*$/, "use lowercase letters, digits, _ and - (starting with a letter)")
	.refine((name) => name !== "all", { message: "`all` names every layer in ?layers=" });

export const UpdateSessionBody = z
	.object({
		agent: z.string().min(1).max(200).nullable().optional(),
		subject: z.string().min(1).max(200).nullable().optional(),
		metadata: Metadata.optional(),
		policy: SessionPolicy.optional().openapi({ description: "Replaces the policy's given fields; others keep their values" }),
		links: z
			.record(LayerName, SessionId.nullable())
			.refine((links) => Object.keys(links).length <= MAX_LAYERS, { message: `at most ${MAX_LAYERS} layers` })
			.optional()
			.openapi({ description: "Layer links to set (a session id) or remove (null); others keep their values" }),
		expectedVersion: Version.optional(),
	})
	.strict()
	.openapi("UpdateSession");
export type UpdateSessionBody = z.infer<typeof UpdateSessionBody>;

export const PauseBody = z
	.object({
		reason: z.string().min(1).max(2000),
		until: z.iso.datetime({ offset: true }).optional().openapi({ description: "Resume by itself at this time" }),
	})
	.strict()
	.openapi("PauseSession");
export type PauseBody = z.infer<typeof PauseBody>;

export const ResumeBody = z.object({ note: z.string().min(1).max(2000).optional() }).strict().openapi("ResumeSession");
export type ResumeBody = z.infer<typeof ResumeBody>;
