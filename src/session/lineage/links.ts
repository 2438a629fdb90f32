/**
 * The lineage table (capability.ts). A link is keyed by its kind and ref (a handoff id, a
 * subagent's session id), so recording the same handoff or subagent twice is one row: the
 * cross-object steps that create them can be retried.
 */
export type LinkKind = "handoff_out" | "handoff_in" | "subagent" | "subagent_of";

export interface LinkRow {
	kind: LinkKind;
	ref: string;
	peer: string;
	status: string | null;
	created_at: number;
	updated_at: number;
}

type Row = LinkRow & Record<string, SqlStorageValue>;

/** Records the link unless it is already there; returns whether it is new. */
export function recordLink(sql: SqlStorage, link: { kind: LinkKind; ref: string; peer: string; status?: string }, now: number): boolean {
	const inserted = sql.exec(
		"INSERT INTO lineage (kind, ref, peer, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		link.kind,
		link.ref,
		link.peer,
		link.status ?? null,
		now,
		now,
	);
	return inserted.rowsWritten > 0;
}

export function findLink(sql: SqlStorage, kind: LinkKind, ref: string): LinkRow | null {
	return sql.exec<Row>("SELECT * FROM lineage WHERE kind = ? AND ref = ?", kind, ref).toArray()[0] ?? null;
}

export function setLinkStatus(sql: SqlStorage, kind: LinkKind, ref: string, status: string, now: number): void {
	sql.exec("UPDATE lineage SET status = ?, updated_at = ? WHERE kind = ? AND ref = ?", status, now, kind, ref);
}

/** Every link, oldest first (a session has few: one per handoff or subagent). */
export function allLinks(sql: SqlStorage): LinkRow[] {
	return sql.exec<Row>("SELECT * FROM lineage ORDER BY created_at, kind, ref").toArray();
}
