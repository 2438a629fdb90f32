/**
 * Searching one session: BM25 over the FTS5 index the triggers of capability.ts keep, events
 * and state values in one ranking. A hit names what it found (an event's seq, a key); an
 * event whose content is now in R2 says `archived`, and the events route reads it back.
 */
import { fail, ok, type Result } from "../../errors";
import type { SessionSearchHit, SessionSearchQuery, SessionSearchResult } from "../../schemas/search";
import type { EventType } from "../../schemas/events";
import { isVisible, visibleIntervals } from "../history/visibility";
import type { SessionContext } from "../kernel/session-context";
import { namespaceFilter } from "../state/state";
import { matchExpression } from "./query";

/** Words of context a snippet shows around its match. */
const SNIPPET_TOKENS = 16;

interface HitRow {
	rowid: number;
	kind: "event" | "state";
	type: EventType | null;
	ns: string | null;
	key: string | null;
	rank: number;
	snippet: string;
	version: number | null;
	stub: number | null;
	[column: string]: SqlStorageValue;
}

export function searchSession(session: SessionContext, query: SessionSearchQuery): Promise<Result<SessionSearchResult>> {
	const match = matchExpression(query.q);
	if (match === null) return Promise.resolve(noWords());
	return session.kernel.read(async (row) => {
		const kinds = kindFilter(query.types);
		// State values of namespaces the caller may not read are not hits (events are not namespaced).
		const namespaces = namespaceFilter(undefined, session.caller?.namespaces ?? null);
		const rows = session.sql
			.exec<HitRow>(
				`SELECT search_index.rowid AS rowid, kind, search_index.type AS type, ns, key, rank,
					snippet(search_index, 0, '**', '**', '…', ${SNIPPET_TOKENS}) AS snippet,
					events.version AS version, (events.archived_by IS NOT NULL OR events.segment_id IS NOT NULL) AS stub
				 FROM search_index LEFT JOIN events ON kind = 'event' AND events.seq = search_index.rowid
				 WHERE search_index MATCH ? AND ${kinds.clause} AND (kind = 'event' OR (1 ${namespaces.clause}))
				 ORDER BY rank LIMIT ?`,
				match,
				...kinds.params,
				...namespaces.params,
				query.limit,
			)
			.toArray();
		const intervals = visibleIntervals(session.sql, row.version);
		return ok({ hits: rows.map((hit) => toHit(hit, intervals)) });
	});
}

/** The failure for a query with nothing to search for (punctuation, operators only). */
export function noWords() {
	return fail("validation_failed", "The query holds no word to search for: give at least one word of letters or digits", {
		issues: [{ path: "q", message: "at least one word of letters or digits" }],
	});
}

function kindFilter(types: SessionSearchQuery["types"]): { clause: string; params: string[] } {
	if (!types?.length) return { clause: "1", params: [] };
	const eventTypes = types.filter((type) => type !== "state");
	const events = eventTypes.length > 0 ? `(kind = 'event' AND search_index.type IN (${eventTypes.map(() => "?").join(",")}))` : "0";
	return { clause: `(${events} OR ${types.includes("state") ? "kind = 'state'" : "0"})`, params: eventTypes };
}

function toHit(row: HitRow, intervals: ReturnType<typeof visibleIntervals>): SessionSearchHit {
	// FTS5's rank is BM25 negated (lower is better); a score reads better the other way round.
	const common = { kind: row.kind, score: -row.rank, snippet: row.snippet };
	if (row.kind === "state") return { ...common, ns: row.ns ?? "", key: row.key ?? "" };
	const hit: SessionSearchHit = { ...common, seq: row.rowid, type: row.type ?? undefined };
	if (row.stub) hit.archived = true;
	if (row.version !== null && !isVisible(intervals, row.version)) hit.rewound = true;
	return hit;
}
