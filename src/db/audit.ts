import { and, asc, eq, gt, gte, inArray, lte, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { toPage } from "../paging";
import { audit, sessions } from "./schema";
import { scopeFilter } from "./sessions";

export type AuditIndexEntry = typeof audit.$inferSelect;

interface Cursor {
	at: number;
	sessionId: string;
	seq: number;
}

export function encodeAuditCursor(cursor: Cursor): string {
	return btoa(JSON.stringify([cursor.at, cursor.sessionId, cursor.seq])).replace(/=+$/, "");
}

export function decodeAuditCursor(text: string): Cursor | null {
	try {
		const [at, sessionId, seq] = JSON.parse(atob(text)) as unknown[];
		if (typeof at !== "number" || typeof sessionId !== "string" || typeof seq !== "number") return null;
		return { at, sessionId, seq };
	} catch {
		return null;
	}
}

export interface TenantAuditFilter {
	principal?: string;
	sessionId?: string;
	from?: number;
	to?: number;
	limit: number;
	/** The caller's session patterns: the trail of sessions it may not reach stays hidden. */
	scope: string[];
}

/** A page of the tenant's trail, oldest first, keyset-paged on (at, session, seq). */
export async function listTenantAudit(database: D1Database, tenant: string, filter: TenantAuditFilter, after: Cursor | null) {
	const db = drizzle(database);
	const subjectSessions = (subject: string) =>
		inArray(audit.sessionId, db.select({ id: sessions.id }).from(sessions).where(and(eq(sessions.tenant, tenant), eq(sessions.subject, subject))));
	const filters: (SQL | undefined)[] = [eq(audit.tenant, tenant), scopeFilter(filter.scope, audit.sessionId, subjectSessions)];
	if (filter.principal !== undefined) filters.push(eq(audit.principal, filter.principal));
	if (filter.sessionId !== undefined) filters.push(eq(audit.sessionId, filter.sessionId));
	if (filter.from !== undefined) filters.push(gte(audit.at, filter.from));
	if (filter.to !== undefined) filters.push(lte(audit.at, filter.to));
	if (after) {
		filters.push(
			or(
				gt(audit.at, after.at),
				and(eq(audit.at, after.at), gt(audit.sessionId, after.sessionId)),
				and(eq(audit.at, after.at), eq(audit.sessionId, after.sessionId), gt(audit.seq, after.seq)),
			),
		);
	}
	const rows = await db
		.select()
		.from(audit)
		.where(and(...filters))
		.orderBy(asc(audit.at), asc(audit.sessionId), asc(audit.seq))
		.limit(filter.limit + 1);
	return toPage(rows, filter.limit, (row) => ({ at: row.at, sessionId: row.sessionId, seq: row.seq }));
}
