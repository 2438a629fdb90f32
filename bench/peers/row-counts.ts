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

/** One query text's share: where a request's rows go. */
export interface QueryRows extends RowCounts {
	query: string;
}

/** What a counting object hands back: its SQLite totals and queries, and for ours its D1 statements. */
export interface TakenRows {
	sql: RowCounts;
	queries: QueryRows[];
	d1?: { totals: D1Counts; queries: QueryRows[] };
}
