/**
 * Which versions of the session's history are in effect at a given version.
 *
 * A restore at version R to target T makes the session continue from T: what was written in
 * (T, R) is rewound (kept in the log, out of the context). So the writes in effect at V are
 * those whose version lies in a chain of intervals: [R, V] (the restore's own state writes
 * included), then recursively those in effect at T. An event, a compaction or a state change is visible at V iff its version is in one of
 * them. Restores are rare, so the chain is short.
 */
import { toPage } from "../../paging";

export type Intervals = Array<readonly [after: number, through: number]>;

export function visibleIntervals(sql: SqlStorage, at: number): Intervals {
	const intervals: Array<readonly [number, number]> = [];
	let through = at;
	for (;;) {
		const restore = sql
			.exec<{ version: number; target_version: number }>(
				"SELECT version, target_version FROM restores WHERE version <= ? ORDER BY version DESC LIMIT 1",
				through,
			)
			.toArray()[0];
		if (!restore) {
			intervals.push([0, through]);
			return intervals;
		}
		intervals.push([restore.version - 1, through]);
		through = restore.target_version;
	}
}

export function isVisible(intervals: Intervals, version: number): boolean {
	return intervals.some(([after, through]) => version > after && version <= through);
}

/** The interval test as SQL over a `version` column, with its bound values. */
export function visibilitySql(intervals: Intervals, column = "version"): { clause: string; params: number[] } {
	return {
		clause: `(${intervals.map(() => `(${column} > ? AND ${column} <= ?)`).join(" OR ")})`,
		params: intervals.flatMap(([after, through]) => [after, through]),
	};
}

export interface CheckpointRow {
	name: string;
	version: number;
	last_seq: number;
	created_at: number;
}

export function readCheckpoint(sql: SqlStorage, name: string): CheckpointRow | null {
	return (
		sql.exec<CheckpointRow & Record<string, SqlStorageValue>>("SELECT * FROM checkpoints WHERE name = ?", name).toArray()[0] ??
		null
	);
}

/** One page of checkpoints by version, then name; `after` names the last one of the previous page. */
export function listCheckpoints(sql: SqlStorage, query: { after?: string; limit: number }): { rows: CheckpointRow[]; nextAfter: string | null } {
	const after = query.after === undefined ? null : readCheckpoint(sql, query.after);
	const rows = sql
		.exec<CheckpointRow & Record<string, SqlStorageValue>>(
			"SELECT * FROM checkpoints WHERE (version, name) > (?, ?) ORDER BY version, name LIMIT ?",
			after?.version ?? -1,
			after?.name ?? "",
			query.limit + 1,
		)
		.toArray();
	const { page, next } = toPage(rows, query.limit, (row) => row.name);
	return { rows: page, nextAfter: next };
}

export function insertCheckpoint(sql: SqlStorage, row: CheckpointRow): void {
	sql.exec("INSERT INTO checkpoints (name, version, last_seq, created_at) VALUES (?, ?, ?, ?)", row.name, row.version, row.last_seq, row.created_at);
}

export function insertRestore(sql: SqlStorage, version: number, target: number, checkpoint: string | null, now: number): void {
	sql.exec("INSERT INTO restores (version, target_version, checkpoint, created_at) VALUES (?, ?, ?, ?)", version, target, checkpoint, now);
}
