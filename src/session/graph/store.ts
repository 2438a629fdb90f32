/**
 * The checkpointer's SQL, synchronous, inside the write's transaction or the read's turn.
 * Values are stored as bytes, or as the SHA-256 of their base64 text in R2 when larger than
 * the session's inline limit (operations.ts places them).
 */
import type { GraphListQuery } from "../../schemas/graph";

/** LangGraph's channel of pending sends (TASKS), migrated into checkpoints of format < 4. */
const SENDS_CHANNEL = "__pregel_tasks";

/** A stored value: inline bytes, or the key of its base64 text in R2. */
export interface StoredValue {
	type: string;
	data: ArrayBuffer | null;
	sha256: string | null;
}

export interface CheckpointRow {
	checkpointNs: string;
	checkpointId: string;
	parentCheckpointId: string | null;
	format: number;
	type: string;
	checkpoint: Uint8Array;
	channelVersions: string;
	metadata: string;
}

export interface StoredTuple {
	row: CheckpointRow;
	blobs: Array<StoredValue & { channel: string; version: string }>;
	writes: Array<StoredValue & { taskId: string; idx: number; channel: string; taskPath: string }>;
	parentSends?: StoredValue[];
}

type Row = Record<string, SqlStorageValue>;

export function insertCheckpoint(sql: SqlStorage, row: CheckpointRow, now: number): void {
	sql.exec(
		`INSERT OR REPLACE INTO graph_checkpoints (checkpoint_ns, checkpoint_id, parent_checkpoint_id, format, type, checkpoint, channel_versions, metadata, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.checkpointNs,
		row.checkpointId,
		row.parentCheckpointId,
		row.format,
		row.type,
		row.checkpoint,
		row.channelVersions,
		row.metadata,
		now,
	);
}

/** A channel's value at a version never changes: a repeat keeps the first one. */
export function insertBlob(sql: SqlStorage, checkpointNs: string, channel: string, version: string, value: { type: string; data: Uint8Array | null; sha256: string | null }): void {
	sql.exec(
		"INSERT OR IGNORE INTO graph_blobs (checkpoint_ns, channel, version, type, data, blob_sha256) VALUES (?, ?, ?, ?, ?, ?)",
		checkpointNs,
		channel,
		version,
		value.type,
		value.data,
		value.sha256,
	);
}

/**
 * A pending write. Regular writes (idx >= 0) keep the first value stored for their key, so a
 * retried task cannot change what a resumed graph replays; special ones (errors, interrupts,
 * resumes: negative idx) are replaced by the latest.
 */
export function insertWrite(
	sql: SqlStorage,
	key: { checkpointNs: string; checkpointId: string; taskId: string; taskPath: string },
	write: { idx: number; channel: string; type: string; data: Uint8Array | null; sha256: string | null },
): void {
	sql.exec(
		`INSERT OR ${write.idx >= 0 ? "IGNORE" : "REPLACE"} INTO graph_writes (checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data, blob_sha256, task_path)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		key.checkpointNs,
		key.checkpointId,
		key.taskId,
		write.idx,
		write.channel,
		write.type,
		write.data,
		write.sha256,
		key.taskPath,
	);
}

const CHECKPOINT_COLUMNS = "checkpoint_ns, checkpoint_id, parent_checkpoint_id, format, type, checkpoint, channel_versions, metadata";

/** One checkpoint (the namespace's latest when no id is given) with its values and writes. */
export function readTuple(sql: SqlStorage, checkpointNs: string, checkpointId: string | undefined): StoredTuple | null {
	const rows =
		checkpointId === undefined
			? sql.exec<Row>(`SELECT ${CHECKPOINT_COLUMNS} FROM graph_checkpoints WHERE checkpoint_ns = ? ORDER BY checkpoint_id DESC LIMIT 1`, checkpointNs)
			: sql.exec<Row>(`SELECT ${CHECKPOINT_COLUMNS} FROM graph_checkpoints WHERE checkpoint_ns = ? AND checkpoint_id = ?`, checkpointNs, checkpointId);
	const row = rows.toArray()[0];
	return row ? withValues(sql, toCheckpointRow(row)) : null;
}

/**
 * Checkpoints newest id first: namespace, `before` and the metadata filter are all decided in
 * SQL, so the limit counts only matches. Filter keys name top-level metadata fields; a value
 * matches when it equals the stored one as JSON.
 */
export function listTuples(sql: SqlStorage, query: Omit<GraphListQuery, "filter"> & { filter?: Record<string, {} | null> }): StoredTuple[] {
	const conditions: string[] = [];
	const bindings: SqlStorageValue[] = [];
	if (query.checkpointNs !== undefined) {
		conditions.push("checkpoint_ns = ?");
		bindings.push(query.checkpointNs);
	}
	if (query.before !== undefined) {
		conditions.push("checkpoint_id < ?");
		bindings.push(query.before);
	}
	for (const [key, value] of Object.entries(query.filter ?? {})) {
		conditions.push("json_extract(metadata, ?) IS json_extract(?, '$')");
		bindings.push(`$."${key}"`, JSON.stringify(value));
	}
	const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
	const rows = sql.exec<Row>(`SELECT ${CHECKPOINT_COLUMNS} FROM graph_checkpoints ${where} ORDER BY checkpoint_id DESC LIMIT ?`, ...bindings, query.limit).toArray();
	return rows.map((row) => withValues(sql, toCheckpointRow(row)));
}

/**
 * Empties the thread's checkpoints, values and pending writes; returns how many checkpoints it
 * held. The record of mirrored messages stays: the caller retracts their events, which is what
 * lets a new run on the id mirror its own (and a restore to before it bring the old ones back once).
 */
export function clearGraph(sql: SqlStorage): number {
	const checkpoints = sql.exec<{ n: number }>("SELECT count(*) AS n FROM graph_checkpoints").one().n;
	for (const table of ["graph_checkpoints", "graph_blobs", "graph_writes"]) sql.exec(`DELETE FROM ${table}`);
	return checkpoints;
}

function toCheckpointRow(row: Row): CheckpointRow {
	return {
		checkpointNs: row.checkpoint_ns as string,
		checkpointId: row.checkpoint_id as string,
		parentCheckpointId: row.parent_checkpoint_id as string | null,
		format: row.format as number,
		type: row.type as string,
		checkpoint: new Uint8Array(row.checkpoint as ArrayBuffer),
		channelVersions: row.channel_versions as string,
		metadata: row.metadata as string,
	};
}

function withValues(sql: SqlStorage, row: CheckpointRow): StoredTuple {
	// The channel values are the blobs at the versions the checkpoint names.
	const blobs = sql
		.exec<Row>(
			`SELECT b.channel, b.version, b.type, b.data, b.blob_sha256 FROM json_each(?) AS v
			 JOIN graph_blobs AS b ON b.checkpoint_ns = ? AND b.channel = v.key AND b.version = CAST(v.value AS TEXT)
			 WHERE b.type != 'empty'`,
			row.channelVersions,
			row.checkpointNs,
		)
		.toArray()
		.map((blob) => ({ channel: blob.channel as string, version: blob.version as string, ...storedValue(blob) }));
	const writes = sql
		.exec<Row>(
			"SELECT task_id, idx, channel, type, data, blob_sha256, task_path FROM graph_writes WHERE checkpoint_ns = ? AND checkpoint_id = ? ORDER BY task_path, task_id, idx",
			row.checkpointNs,
			row.checkpointId,
		)
		.toArray()
		.map((write) => ({ taskId: write.task_id as string, idx: write.idx as number, channel: write.channel as string, taskPath: write.task_path as string, ...storedValue(write) }));
	const tuple: StoredTuple = { row, blobs, writes };
	if (row.format < 4 && row.parentCheckpointId !== null) {
		tuple.parentSends = sql
			.exec<Row>(
				"SELECT type, data, blob_sha256 FROM graph_writes WHERE checkpoint_ns = ? AND checkpoint_id = ? AND channel = ? ORDER BY task_path, task_id, idx",
				row.checkpointNs,
				row.parentCheckpointId,
				SENDS_CHANNEL,
			)
			.toArray()
			.map(storedValue);
	}
	return tuple;
}

function storedValue(row: Row): StoredValue {
	return { type: row.type as string, data: row.data as ArrayBuffer | null, sha256: row.blob_sha256 as string | null };
}
