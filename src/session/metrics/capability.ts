import type { Capability } from "../kernel/capability";

/** The session's own figures (metrics.ts). */
export const metrics: Capability = {
	name: "metrics",
	migrations: [
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE metrics (
				name TEXT NOT NULL,
				label TEXT NOT NULL,
				value INTEGER NOT NULL,
				dirty INTEGER NOT NULL DEFAULT 1,
				PRIMARY KEY (name, label)
			) WITHOUT ROWID`,
		],
	],
};
