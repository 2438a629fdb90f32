import type { Capability } from "../kernel/capability";

/**
 * What a session keeps of an erasure by subject: which erasure, and how much it removed from
 * each store (numbers only), so a repeated request answers with the same counts.
 */
export const erasure: Capability = {
	name: "erasure",
	migrations: [
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE erasure (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				erasure_id TEXT NOT NULL,
				mode TEXT NOT NULL,
				object_rows INTEGER NOT NULL,
				r2_objects INTEGER NOT NULL,
				d1_rows INTEGER NOT NULL,
				audit_redacted INTEGER NOT NULL DEFAULT 0,
				erased_at INTEGER
			)`,
		],
	],
};
