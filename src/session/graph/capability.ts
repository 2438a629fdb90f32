import { describeKey } from "../../blobs/blob-store";
import type { Capability } from "../kernel/capability";

/**
 * A LangGraph checkpointer's data for the thread this session is (store.ts), in tables shaped
 * like the official SQLite and Postgres savers': checkpoints (without their channel values),
 * channel values keyed by channel and version, pending writes keyed by checkpoint, task and
 * index. They are content (a deletion or erasure empties them) but stay out of the event log,
 * state, token counts, the context window and restore's history.
 *
 * Round 8: main ships its own round 7 meanwhile, and the runner records one global round
 * count, so an object already past a round never runs a round merged later with its number.
 */
export const graph: Capability = {
	name: "graph",
	migrations: [
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE graph_checkpoints (
				checkpoint_ns TEXT NOT NULL,
				checkpoint_id TEXT NOT NULL,
				parent_checkpoint_id TEXT,
				format INTEGER NOT NULL,
				type TEXT NOT NULL,
				checkpoint BLOB NOT NULL,
				channel_versions TEXT NOT NULL,
				metadata TEXT NOT NULL,
				created_at INTEGER NOT NULL,
				PRIMARY KEY (checkpoint_ns, checkpoint_id)
			) WITHOUT ROWID`,
			// Cross-namespace listing orders by checkpoint id alone.
			"CREATE INDEX graph_checkpoints_by_id ON graph_checkpoints (checkpoint_id)",
			`CREATE TABLE graph_blobs (
				checkpoint_ns TEXT NOT NULL,
				channel TEXT NOT NULL,
				version TEXT NOT NULL,
				type TEXT NOT NULL,
				data BLOB,
				blob_sha256 TEXT,
				PRIMARY KEY (checkpoint_ns, channel, version)
			) WITHOUT ROWID`,
			"CREATE INDEX graph_blobs_by_r2 ON graph_blobs (blob_sha256) WHERE blob_sha256 IS NOT NULL",
			`CREATE TABLE graph_writes (
				checkpoint_ns TEXT NOT NULL,
				checkpoint_id TEXT NOT NULL,
				task_id TEXT NOT NULL,
				idx INTEGER NOT NULL,
				channel TEXT NOT NULL,
				type TEXT NOT NULL,
				data BLOB,
				blob_sha256 TEXT,
				task_path TEXT NOT NULL,
				PRIMARY KEY (checkpoint_ns, checkpoint_id, task_id, idx)
			) WITHOUT ROWID`,
			"CREATE INDEX graph_writes_by_r2 ON graph_writes (blob_sha256) WHERE blob_sha256 IS NOT NULL",
		],
		// The conversation mirrored into the log (operations.ts): each message once, by its id.
		["CREATE TABLE IF NOT EXISTS graph_messages (message_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID"],
	],
	contentTables: ["graph_checkpoints", "graph_blobs", "graph_writes", "graph_messages"],
	references: (sql, key) => {
		const described = describeKey(key);
		if (described?.kind !== "blob") return false;
		return (
			sql.exec("SELECT 1 FROM graph_blobs WHERE blob_sha256 = ? LIMIT 1", described.sha256).toArray().length > 0 ||
			sql.exec("SELECT 1 FROM graph_writes WHERE blob_sha256 = ? LIMIT 1", described.sha256).toArray().length > 0
		);
	},
};
