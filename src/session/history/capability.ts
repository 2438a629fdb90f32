import type { Capability } from "../kernel/capability";

/** Restores (which versions are in effect, visibility.ts) and named checkpoints. */
export const history: Capability = {
	name: "history",
	migrations: [
		[],
		[
			`CREATE TABLE restores (
				version INTEGER PRIMARY KEY,
				target_version INTEGER NOT NULL,
				checkpoint TEXT,
				created_at INTEGER NOT NULL
			)`,
			`CREATE TABLE checkpoints (
				name TEXT PRIMARY KEY,
				version INTEGER NOT NULL,
				last_seq INTEGER NOT NULL,
				created_at INTEGER NOT NULL
			) WITHOUT ROWID`,
		],
	],
	contentTables: ["restores", "checkpoints"],
};
