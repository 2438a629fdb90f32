import type { Capability } from "../kernel/capability";

/**
 * Lineage: the session's links to the sessions it handed work to or received it from, and to
 * its subagents or the parent it answers to. Forks need no row: a fork names its parent in
 * its session row.
 */
export const lineage: Capability = {
	name: "lineage",
	migrations: [
		[],
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE lineage (
				kind TEXT NOT NULL,
				ref TEXT NOT NULL,
				peer TEXT NOT NULL,
				status TEXT,
				created_at INTEGER NOT NULL,
				updated_at INTEGER NOT NULL,
				PRIMARY KEY (kind, ref)
			) WITHOUT ROWID`,
		],
	],
	contentTables: ["lineage"],
};
