/**
 * Cross-session search over the D1 index (migrations/0004_search.sql): BM25 over the first
 * 2 KB of each event's text, in the caller's tenant, in sessions that are active and that the
 * caller's session patterns admit. A deleted session's rows are purged with it, and the
 * `status = 'active'` join hides them until the purge has run.
 */
import { indexFilter } from "../auth/scopes";
import type { EventType } from "../schemas/events";
import type { SearchHit, SearchQuery } from "../schemas/search";

interface HitRow {
	session_id: string;
	seq: number;
	type: EventType;
	agent: string | null;
	subject: string | null;
	rank: number;
	snippet: string;
	created_at: number;
}

export async function searchSessions(database: D1Database, tenant: string, match: string, query: Omit<SearchQuery, "q">, scope: string[]): Promise<SearchHit[]> {
	const filters = ["event_text.tenant = ?", "sessions.status = 'active'"];
	const params: (string | number)[] = [tenant];
	if (query.agent !== undefined) {
		filters.push("sessions.agent = ?");
		params.push(query.agent);
	}
	if (query.subject !== undefined) {
		filters.push("sessions.subject = ?");
		params.push(query.subject);
	}
	const admitted = scopeClause(scope);
	filters.push(admitted.clause);
	params.push(...admitted.params);
	const { results } = await database
		.prepare(
			`SELECT event_text.session_id, event_text.seq, event_text.type, event_text.created_at, sessions.agent, sessions.subject,
				bm25(event_search) AS rank, snippet(event_search, 0, '**', '**', '…', 16) AS snippet
			 FROM event_search
			 JOIN event_text ON event_text.id = event_search.rowid
			 JOIN sessions ON sessions.tenant = event_text.tenant AND sessions.id = event_text.session_id
			 WHERE event_search MATCH ? AND ${filters.join(" AND ")}
			 ORDER BY rank LIMIT ?`,
		)
		.bind(match, ...params, query.limit)
		.all<HitRow>();
	return results.map((row) => ({
		sessionId: row.session_id,
		seq: row.seq,
		type: row.type,
		agent: row.agent,
		subject: row.subject,
		score: -row.rank,
		snippet: row.snippet,
		createdAt: new Date(row.created_at).toISOString(),
	}));
}

/** The sessions a credential's patterns admit (ids, id prefixes, subjects), as SQL. */
function scopeClause(patterns: string[]): { clause: string; params: string[] } {
	const admitted = indexFilter(patterns);
	if (admitted === null) return { clause: "1", params: [] };
	const conditions = [
		...admitted.ids.map((id) => ({ clause: "sessions.id = ?", params: [id] })),
		// One bound value per pattern (a credential has at most 50; D1 binds at most 100): the rows
		// are the query's matches already, so no index is lost by not using a range.
		...admitted.prefixes.map((prefix) => ({ clause: "instr(sessions.id, ?) = 1", params: [prefix] })),
		...admitted.subjects.map((subject) => ({ clause: "sessions.subject = ?", params: [subject] })),
	];
	if (conditions.length === 0) return { clause: "0", params: [] };
	return { clause: `(${conditions.map((condition) => condition.clause).join(" OR ")})`, params: conditions.flatMap((condition) => condition.params) };
}
