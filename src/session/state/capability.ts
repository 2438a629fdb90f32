import { describeKey } from "../../blobs/blob-store";
import type { Capability } from "../kernel/capability";

/** Namespaced, versioned key-value state and its change log (state.ts). */
export const state: Capability = {
	name: "state",
	migrations: [
		[
			`CREATE TABLE state (
				ns TEXT NOT NULL,
				key TEXT NOT NULL,
				value TEXT,
				blob_sha256 TEXT,
				blob_bytes INTEGER,
				preview TEXT,
				version INTEGER NOT NULL,
				updated_at INTEGER NOT NULL,
				PRIMARY KEY (ns, key)
			) WITHOUT ROWID`,
		],
		[
			"ALTER TABLE state ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
			"ALTER TABLE state ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
			`CREATE TABLE state_log (
				ns TEXT NOT NULL,
				key TEXT NOT NULL,
				version INTEGER NOT NULL,
				value TEXT,
				blob_sha256 TEXT,
				blob_bytes INTEGER,
				preview TEXT,
				pinned INTEGER NOT NULL,
				tokens INTEGER NOT NULL,
				deleted INTEGER NOT NULL,
				updated_at INTEGER NOT NULL,
				PRIMARY KEY (ns, key, version)
			) WITHOUT ROWID`,
			`INSERT INTO state_log (ns, key, version, value, blob_sha256, blob_bytes, preview, pinned, tokens, deleted, updated_at)
			 SELECT ns, key, version, value, blob_sha256, blob_bytes, preview, pinned, tokens, 0, updated_at FROM state`,
		],
		// The window's state digest reads keys newest first and stops at its share of the budget.
		["CREATE INDEX state_by_recency ON state (pinned, version DESC, ns, key)"],
	],
	contentTables: ["state", "state_log"],
	references: (sql, key) => {
		const described = describeKey(key);
		if (described?.kind !== "blob") return false;
		return (
			sql.exec("SELECT 1 FROM state_log WHERE blob_sha256 = ? LIMIT 1", described.sha256).toArray().length > 0 ||
			sql.exec("SELECT 1 FROM state WHERE blob_sha256 = ? LIMIT 1", described.sha256).toArray().length > 0
		);
	},
};
