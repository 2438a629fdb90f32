import type { Capability } from "../kernel/capability";

/**
 * The text of a content column (JSON) as it is searched: a JSON string as its value, any other
 * JSON as written (its keys and values are words too), the R2 preview when the content is in R2.
 */
function searchableText(content: string, preview: string): string {
	return `CASE
		WHEN ${content} IS NULL THEN coalesce(${preview}, '')
		WHEN json_valid(${content}) AND json_type(${content}) = 'text' THEN json_extract(${content}, '$')
		ELSE ${content} END`;
}

/** An event's searchable text: its name (a speaker, a tool) before its content. */
export const EVENT_TEXT = (row: string) => `coalesce(${row}.name || ': ', '') || ${searchableText(`${row}.content`, `${row}.preview`)}`;
/** A state key's searchable text: the key before its value. */
const STATE_TEXT = (row: string) => `${row}.key || ': ' || ${searchableText(`${row}.value`, `${row}.preview`)}`;

/** The FTS5 row of a state key: the negated id of its (ns, key), so it never meets an event's seq. */
const STATE_ROWID = (row: string) => `-(SELECT id FROM search_state_keys WHERE ns = ${row}.ns AND key = ${row}.key)`;

const indexEvent = `DELETE FROM search_index WHERE rowid = NEW.seq;
	INSERT INTO search_index (rowid, body, kind, type) VALUES (NEW.seq, ${EVENT_TEXT("NEW")}, 'event', NEW.type);`;

// Not INSERT OR IGNORE: in a trigger, the outer statement's conflict handling (an upsert) would override it.
const indexState = `INSERT INTO search_state_keys (ns, key) SELECT NEW.ns, NEW.key
		WHERE NOT EXISTS (SELECT 1 FROM search_state_keys WHERE ns = NEW.ns AND key = NEW.key);
	DELETE FROM search_index WHERE rowid = ${STATE_ROWID("NEW")};
	INSERT INTO search_index (rowid, body, kind, ns, key) VALUES (${STATE_ROWID("NEW")}, ${STATE_TEXT("NEW")}, 'state', NEW.ns, NEW.key);`;

/**
 * Full-text search over the session's events and current state (search.ts). State keys are
 * indexed by triggers, so every path that writes them indexes in the same transaction; events
 * when the index is next read (catch-up.ts), and by a trigger when a restore rehydrates one.
 * An event row's content leaving for R2 (compaction, archiving by age: a DELETE and an INSERT of
 * the row with NULL content, indexed first) changes nothing here: its text stays searchable. Reserved namespaces are never
 * indexed. A deletion empties both tables and rebuilds the index empty; an erasure wipes the
 * whole database.
 */
export const search: Capability = {
	name: "search",
	migrations: [
		[],
		[],
		[],
		[],
		[],
		// Round 5 is main's (lineage, merge, subagents, session links), merged in parallel: search
		// comes after it, so an object main migrated to round 5 still runs this one.
		[],
		[
			`CREATE VIRTUAL TABLE search_index USING fts5(
				body, kind UNINDEXED, type UNINDEXED, ns UNINDEXED, key UNINDEXED,
				tokenize = 'porter unicode61 remove_diacritics 2'
			)`,
			// Deleted text leaves the index at once, not as delete markers until a merge: a changed or
			// deleted value, and a deleted session, must leave no words behind.
			"INSERT INTO search_index (search_index, rank) VALUES ('secure-delete', 1)",
			"CREATE TABLE search_state_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (ns, key))",
			`CREATE TRIGGER search_event_inserted AFTER INSERT ON events
			 WHEN NEW.content IS NOT NULL OR NEW.preview IS NOT NULL BEGIN ${indexEvent} END`,
			`CREATE TRIGGER search_event_rehydrated AFTER UPDATE OF content, preview ON events
			 WHEN NEW.content IS NOT NULL OR NEW.preview IS NOT NULL BEGIN ${indexEvent} END`,
			`CREATE TRIGGER search_state_inserted AFTER INSERT ON state WHEN NEW.ns NOT GLOB '_*' BEGIN ${indexState} END`,
			`CREATE TRIGGER search_state_updated AFTER UPDATE ON state WHEN NEW.ns NOT GLOB '_*' BEGIN ${indexState} END`,
			`CREATE TRIGGER search_state_deleted AFTER DELETE ON state WHEN OLD.ns NOT GLOB '_*' BEGIN
				DELETE FROM search_index WHERE rowid = ${STATE_ROWID("OLD")};
				DELETE FROM search_state_keys WHERE ns = OLD.ns AND key = OLD.key;
			 END`,
			// Sessions written before search existed: what is still hot gets indexed now
			// (content already moved to R2 is not read back for it).
			`INSERT INTO search_index (rowid, body, kind, type)
			 SELECT seq, ${EVENT_TEXT("events")}, 'event', type FROM events WHERE content IS NOT NULL OR preview IS NOT NULL`,
			"INSERT INTO search_state_keys (ns, key) SELECT ns, key FROM state WHERE ns NOT GLOB '_*'",
			`INSERT INTO search_index (rowid, body, kind, ns, key)
			 SELECT ${STATE_ROWID("state")}, ${STATE_TEXT("state")}, 'state', ns, key FROM state WHERE ns NOT GLOB '_*'`,
		],
		[],
		[],
		[],
		// Appended events are indexed when the index is next read (catch-up.ts), no longer by a trigger.
		[
			"DROP TRIGGER search_event_inserted",
			"CREATE TABLE search_progress (indexed_seq INTEGER NOT NULL)",
			"INSERT INTO search_progress (indexed_seq) SELECT coalesce(max(seq), 0) FROM events",
		],
	],
	contentTables: ["search_index", "search_state_keys"],
	// Emptied rows leave index pages whose first terms the page index (search_index_idx) still
	// names: rebuilt from the now empty table, the index holds no word.
	contentEmptied: (sql) => sql.exec("INSERT INTO search_index (search_index) VALUES ('rebuild')"),
};
