/** Reading the session's own audit trail (strongly consistent; the tenant trail is in D1). */
import { ok, type Result } from "../../errors";
import type { SessionAuditPage, SessionAuditQuery } from "../../schemas/audit";
import type { SessionContext } from "../kernel/session-context";
import { page } from "./audit";

export function listAudit(session: SessionContext, query: SessionAuditQuery): Promise<Result<SessionAuditPage>> {
	return session.kernel.read((row) => {
		const rows = page(session.sql, { since: query.since, principal: query.principal, limit: query.limit + 1 });
		const records = rows.slice(0, query.limit).map((record) => ({
			seq: record.seq,
			sessionId: row.id,
			at: new Date(record.at).toISOString(),
			principal: record.principal,
			agent: record.agent,
			operation: record.operation,
			version: record.version,
			what: record.what === null ? null : (JSON.parse(record.what) as NonNullable<SessionAuditPage["records"][number]["what"]>),
			requestId: record.request_id,
		}));
		return ok({ records, nextSince: rows.length > query.limit ? (records.at(-1)?.seq ?? null) : null });
	});
}
