import { and, desc, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { approvals, sessions } from "./schema";
import { scopeFilter } from "./sessions";

export type ApprovalIndexEntry = typeof approvals.$inferSelect;

/** A tenant's approvals from the index, newest first, optionally by status. */
export async function listTenantApprovals(
	database: D1Database,
	tenant: string,
	query: { status?: ApprovalIndexEntry["status"]; limit: number },
	scope: string[] = ["*"],
): Promise<ApprovalIndexEntry[]> {
	const db = drizzle(database);
	const subjectSessions = (subject: string) =>
		inArray(approvals.sessionId, db.select({ id: sessions.id }).from(sessions).where(and(eq(sessions.tenant, tenant), eq(sessions.subject, subject))));
	const filters = [eq(approvals.tenant, tenant), query.status ? eq(approvals.status, query.status) : undefined, scopeFilter(scope, approvals.sessionId, subjectSessions)];
	return db.select().from(approvals).where(and(...filters)).orderBy(desc(approvals.createdAt)).limit(query.limit);
}
