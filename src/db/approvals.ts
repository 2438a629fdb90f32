import { and, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { approvals } from "./schema";

export type ApprovalIndexEntry = typeof approvals.$inferSelect;

/** A tenant's approvals from the index, newest first, optionally by status. */
export async function listTenantApprovals(
	database: D1Database,
	tenant: string,
	query: { status?: ApprovalIndexEntry["status"]; limit: number },
): Promise<ApprovalIndexEntry[]> {
	const filters = [eq(approvals.tenant, tenant), query.status ? eq(approvals.status, query.status) : undefined];
	return drizzle(database).select().from(approvals).where(and(...filters)).orderBy(desc(approvals.createdAt)).limit(query.limit);
}
