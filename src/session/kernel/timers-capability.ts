import type { Capability } from "./capability";
import { TIMER_MIGRATIONS } from "./timers";

/** The keyed timers table (timers.ts); the first schema's name-keyed jobs table moves into it. */
export const timerTable: Capability = {
	name: "timers",
	migrations: [
		[
			`CREATE TABLE jobs (
				name TEXT PRIMARY KEY,
				due_at INTEGER NOT NULL,
				attempts INTEGER NOT NULL DEFAULT 0,
				last_error TEXT
			) WITHOUT ROWID`,
		],
		[],
		TIMER_MIGRATIONS,
	],
};
