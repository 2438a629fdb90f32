import { z } from "@hono/zod-openapi";
import { csv, csvPattern, Timestamp } from "./common";
import { EventType } from "./events";

/** What a search query may hold: words, in any syntax; it is never passed to FTS5 as written. */
const SearchText = z
	.string()
	.trim()
	.min(1)
	.max(1000)
	.openapi({
		description:
			"Words to look for. Each word is searched as a term (stemmed, case- and accent-insensitive); hits need any of them, " +
			"ranked by BM25. Operators and punctuation are ignored, never interpreted.",
		example: "deploy failed database",
	});

const Limit = (max: number) => z.coerce.number().int().min(1).max(max).default(10).openapi({ type: "integer" });

/** `state` or an event type. */
export const SearchKind = z.union([EventType, z.literal("state")]);

export const SessionSearchQuery = z.object({
	q: SearchText,
	types: csv(SearchKind)
		.optional()
		.openapi({
			type: "string",
			pattern: csvPattern([...EventType.options, "state"].join("|")),
			description: "Comma-separated event types, and `state` for state values (default: everything)",
		}),
	limit: Limit(100),
});
export type SessionSearchQuery = z.infer<typeof SessionSearchQuery>;

export const SessionSearchHit = z
	.object({
		kind: z.enum(["event", "state"]),
		score: z.number().openapi({ description: "BM25 relevance: higher is better; comparable within one response only" }),
		snippet: z.string().openapi({ description: "The matching passage, matched terms in **double asterisks**" }),
		seq: z.number().int().optional().openapi({ description: "For an event: its seq" }),
		type: EventType.optional(),
		archived: z.boolean().optional().openapi({
			description: "The event's content is in R2 (compacted or archived by age): read it with GET …/events?after=<seq - 1>&limit=1&includeArchived=true",
		}),
		rewound: z.boolean().optional().openapi({ description: "Left out of the context by a restore to an earlier checkpoint" }),
		ns: z.string().optional().openapi({ description: "For a state value: its namespace" }),
		key: z.string().optional().openapi({ description: "For a state value: its key" }),
	})
	.openapi("SessionSearchHit");
export type SessionSearchHit = z.infer<typeof SessionSearchHit>;

export const SessionSearchResult = z.object({ hits: z.array(SessionSearchHit) }).openapi("SessionSearchResult");
export type SessionSearchResult = z.infer<typeof SessionSearchResult>;

export const SearchQuery = z.object({
	q: SearchText,
	agent: z.string().min(1).max(200).optional().openapi({ description: "Only sessions of this agent" }),
	subject: z.string().min(1).max(200).optional().openapi({ description: "Only sessions about this subject" }),
	limit: Limit(100),
});
export type SearchQuery = z.infer<typeof SearchQuery>;

export const SearchHit = z
	.object({
		sessionId: z.string(),
		seq: z.number().int(),
		type: EventType,
		agent: z.string().nullable(),
		subject: z.string().nullable(),
		score: z.number().openapi({ description: "BM25 relevance: higher is better; comparable within one response only" }),
		snippet: z.string().openapi({ description: "The matching passage of the event's first 2,000 characters, matched terms in **double asterisks**" }),
		createdAt: Timestamp,
	})
	.openapi("SearchHit");
export type SearchHit = z.infer<typeof SearchHit>;

export const SearchResult = z.object({ hits: z.array(SearchHit) }).openapi("SearchResult");
export type SearchResult = z.infer<typeof SearchResult>;
