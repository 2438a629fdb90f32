import type { Capability } from "../kernel/capability";

/**
 * Merges of forks into this session (merge.ts). A merge that gets further into a fork leaves a
 * row at this session's version after it: how far into the fork it merged. Rows are versioned
 * like state, so a restore to before a merge forgets it and the fork can be merged again.
 */
export const merge: Capability = {
	name: "merge",
	migrations: [
		[],
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE merges (
				fork_id TEXT NOT NULL,
				version INTEGER NOT NULL,
				fork_version INTEGER NOT NULL,
				fork_seq INTEGER NOT NULL,
				created_at INTEGER NOT NULL,
				PRIMARY KEY (fork_id, version)
			) WITHOUT ROWID`,
		],
	],
	contentTables: ["merges"],
};
