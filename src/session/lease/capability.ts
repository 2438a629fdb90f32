import type { Capability } from "../kernel/capability";

/** The writer lease with its fencing token (lease.ts). */
export const lease: Capability = {
	name: "lease",
	migrations: [
		[
			`CREATE TABLE lease (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				holder TEXT NOT NULL,
				token INTEGER NOT NULL,
				expires_at INTEGER NOT NULL
			)`,
		],
	],
	contentTables: ["lease"],
};
