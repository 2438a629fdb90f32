/** What bench/peers/row-counter.ts counts, shared with the Node side of the bench (no Workers types here). */

/** SQLite statements run and the rows their cursors report: what a Durable Object is billed for. */
export interface RowCounts {
	statements: number;
	rowsRead: number;
	rowsWritten: number;
}

export interface D1Counts extends RowCounts {
	/** Calls that reached D1: a batch is one call of many statements. */
	calls: number;
}
