import type { Capability } from "../kernel/capability";
import { APPENDED_MIGRATION } from "./appended";
import { DRAIN_TIMER } from "./outbox";
import { drainOutbox, PURGE_TIMER, purgeBlobs } from "./drain";

/** Changes waiting for the D1 index, and the purge of a deleted session's R2 prefix. */
export const projection: Capability = {
	name: "projection",
	migrations: [
		[
			`CREATE TABLE outbox (
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				payload TEXT NOT NULL,
				created_at INTEGER NOT NULL
			)`,
		],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		// Without AUTOINCREMENT: its sqlite_sequence row was a second billed row on every write.
		// Ids still never repeat (outbox.ts): a new one starts above the highest id removed.
		[
			"CREATE TABLE outbox_mark (last_removed_id INTEGER NOT NULL)",
			"INSERT INTO outbox_mark (last_removed_id) SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
			"CREATE TABLE outbox_rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, created_at INTEGER NOT NULL)",
			"INSERT INTO outbox_rows (id, payload, created_at) SELECT id, payload, created_at FROM outbox",
			"DROP TABLE outbox",
			"ALTER TABLE outbox_rows RENAME TO outbox",
			...APPENDED_MIGRATION,
		],
	],
	timers: { [DRAIN_TIMER]: drainOutbox, [PURGE_TIMER]: purgeBlobs },
};
