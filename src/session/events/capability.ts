import { describeKey } from "../../blobs/blob-store";
import type { Capability } from "../kernel/capability";
import { RETRACTIONS_TABLE } from "./retractions";

/** The append-only event log (log.ts). */
export const events: Capability = {
	name: "events",
	migrations: [
		[
			`CREATE TABLE events (
				seq INTEGER PRIMARY KEY,
				version INTEGER NOT NULL,
				type TEXT NOT NULL,
				role TEXT,
				name TEXT,
				tool_call_id TEXT,
				content TEXT,
				blob_sha256 TEXT,
				blob_bytes INTEGER,
				preview TEXT,
				metadata TEXT,
				tokens INTEGER NOT NULL,
				tokens_cumulative INTEGER NOT NULL,
				created_at INTEGER NOT NULL
			)`,
			"CREATE INDEX events_by_type ON events (type, seq)",
		],
		[
			"ALTER TABLE events ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
			"ALTER TABLE events ADD COLUMN preview_tokens INTEGER",
			"ALTER TABLE events ADD COLUMN usage TEXT",
			"ALTER TABLE events ADD COLUMN archived_by INTEGER",
			"CREATE INDEX events_hot ON events (archived_by, seq)",
			"CREATE INDEX events_pinned ON events (seq) WHERE pinned = 1",
		],
		["CREATE INDEX events_by_blob ON events (blob_sha256) WHERE blob_sha256 IS NOT NULL"],
		[],
		// Events whose content retention moved to an R2 segment (retention/archive.ts).
		["ALTER TABLE events ADD COLUMN segment_id INTEGER"],
		[],
		[],
		[],
		[],
		// Retraction (retract.ts, retractions.ts): what a retraction hid, and from which version.
		[RETRACTIONS_TABLE],
	],
	contentTables: ["events", "retractions"],
	references: (sql, key) => {
		const described = describeKey(key);
		if (described?.kind !== "blob") return false;
		return sql.exec("SELECT 1 FROM events WHERE blob_sha256 = ? LIMIT 1", described.sha256).toArray().length > 0;
	},
};
