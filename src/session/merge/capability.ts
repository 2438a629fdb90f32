import type { Capability } from "../kernel/capability";

/**
 * Merges of forks into this session (merge.ts). Each merge that changed something leaves a row
 * at the version it produced: how far into the fork it merged. A row is versioned like state,
 * so a restore to before a merge forgets it and the fork can be merged again.
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
