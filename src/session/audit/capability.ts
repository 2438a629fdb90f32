import type { Capability } from "../kernel/capability";

/** A record's columns besides its seq (audit.ts). */
const RECORD_COLUMNS = "at INTEGER NOT NULL, principal TEXT NOT NULL, agent TEXT, operation TEXT NOT NULL, version INTEGER NOT NULL, what TEXT, request_id TEXT";

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
			`CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, ${RECORD_COLUMNS})`,
			"CREATE TABLE audit_projection (projected_seq INTEGER NOT NULL)",
			"INSERT INTO audit_projection (projected_seq) VALUES (0)",
		],
		[],
		[],
		[],
		[],
		[],
		// Without AUTOINCREMENT: its sqlite_sequence row was a second billed row on every write and
		// every read. Seqs still never repeat (audit.ts): a new one starts above the projected mark.
		[
			`CREATE TABLE audit_rows (seq INTEGER PRIMARY KEY, ${RECORD_COLUMNS})`,
			"INSERT INTO audit_rows SELECT seq, at, principal, agent, operation, version, what, request_id FROM audit",
			"DROP TABLE audit",
			"ALTER TABLE audit_rows RENAME TO audit",
		],
	],
};
