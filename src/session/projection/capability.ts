import type { Capability } from "../kernel/capability";
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
	],
	timers: { [DRAIN_TIMER]: drainOutbox, [PURGE_TIMER]: purgeBlobs },
};
