import { describeKey } from "../../blobs/blob-store";
import type { Capability } from "../kernel/capability";
import { COMPACT_TIMER, compactWhenDue } from "./operations";

/** Compaction records and which events each archived (store.ts), run on a timer. */
export const compaction: Capability = {
	name: "compaction",
	migrations: [
		[],
		[
			`CREATE TABLE compactions (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				version INTEGER NOT NULL,
				from_seq INTEGER NOT NULL,
				to_seq INTEGER NOT NULL,
				archived_count INTEGER NOT NULL,
				summary TEXT NOT NULL,
				summary_data TEXT NOT NULL,
				summary_tokens INTEGER NOT NULL,
				before_tokens INTEGER NOT NULL,
				after_tokens INTEGER NOT NULL,
				summarizer TEXT NOT NULL,
				trigger TEXT NOT NULL,
				archive_key TEXT,
				created_at INTEGER NOT NULL
			)`,
			`CREATE TABLE archived_events (
				seq INTEGER NOT NULL,
				compaction_id INTEGER NOT NULL,
				PRIMARY KEY (seq, compaction_id)
			) WITHOUT ROWID`,
		],
		[],
		[],
		// What the archive holds in R2 (JSONL and Markdown), for the session's storage report.
		["ALTER TABLE compactions ADD COLUMN archive_bytes INTEGER"],
	],
	contentTables: ["compactions", "archived_events"],
	timers: { [COMPACT_TIMER]: compactWhenDue },
	references: (sql, key) => {
		const described = describeKey(key);
		if (described?.kind !== "archive") return false;
		return sql.exec("SELECT 1 FROM compactions WHERE archive_key = ? LIMIT 1", described.jsonlKey).toArray().length > 0;
	},
};
