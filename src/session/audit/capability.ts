import type { Capability } from "../kernel/capability";

/**
 * The audit trail (audit.ts). Not a content table: a deletion keeps the facts of access;
 * erasure drops what they touched.
 */
export const audit: Capability = {
	name: "audit",
	migrations: [
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE audit (
				seq INTEGER PRIMARY KEY AUTOINCREMENT,
				at INTEGER NOT NULL,
				principal TEXT NOT NULL,
				agent TEXT,
				operation TEXT NOT NULL,
				version INTEGER NOT NULL,
				what TEXT,
				request_id TEXT
			)`,
			"CREATE TABLE audit_projection (projected_seq INTEGER NOT NULL)",
			"INSERT INTO audit_projection (projected_seq) VALUES (0)",
		],
	],
};
