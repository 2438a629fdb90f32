import { describeKey } from "../../blobs/blob-store";
import type { Capability } from "../kernel/capability";
import { ARCHIVE_TIMER, archiveEvents } from "./archive";
import { enforceRetention, RETENTION_TIMER } from "./retention";

/**
 * Retention: deleting sessions past their time (retention.ts) and moving old events out to R2
 * segments (archive.ts).
 */
export const retention: Capability = {
	name: "retention",
	migrations: [
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE segments (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				from_seq INTEGER NOT NULL,
				to_seq INTEGER NOT NULL,
				event_count INTEGER NOT NULL,
				archive_key TEXT NOT NULL,
				archive_bytes INTEGER NOT NULL,
				created_at INTEGER NOT NULL
			)`,
		],
	],
	contentTables: ["segments"],
	timers: { [RETENTION_TIMER]: enforceRetention, [ARCHIVE_TIMER]: archiveEvents },
	references: (sql, key) => {
		const described = describeKey(key);
		if (described?.kind !== "archive") return false;
		return sql.exec("SELECT 1 FROM segments WHERE archive_key = ? LIMIT 1", described.jsonlKey).toArray().length > 0;
	},
};
