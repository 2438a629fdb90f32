/** What a session tells a lineage walk (operations/lineage.ts) about itself and its neighbours. */
import { ok, type Result } from "../../errors";
import type { SessionContext } from "../kernel/session-context";
import { allLinks, type LinkKind } from "./links";

export interface LineageEntry {
	id: string;
	agent: string | null;
	closed: string | null;
	createdAt: string;
	parentId: string | null;
	forkedFrom: { sessionId: string; version: number } | null;
	links: Array<{ kind: LinkKind; peer: string; ref: string; status: string | null; at: string }>;
}

export function describeLineage(session: SessionContext): Promise<Result<LineageEntry>> {
	return session.kernel.read((row) =>
		ok({
			id: row.id,
			agent: row.agent,
			closed: row.close_reason,
			createdAt: new Date(row.created_at).toISOString(),
			parentId: row.parent_id,
			forkedFrom: row.forked_from ? (JSON.parse(row.forked_from) as LineageEntry["forkedFrom"]) : null,
			links: allLinks(session.sql).map((link) => ({ kind: link.kind, peer: link.peer, ref: link.ref, status: link.status, at: new Date(link.created_at).toISOString() })),
		}),
	);
}
