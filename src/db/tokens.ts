import { and, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { revokedTokens } from "./schema";

/** Records a revocation; revoking twice keeps the first time. */
export async function revokeToken(database: D1Database, row: typeof revokedTokens.$inferInsert): Promise<typeof revokedTokens.$inferSelect> {
	const db = drizzle(database);
	await db.insert(revokedTokens).values(row).onConflictDoNothing();
	const stored = await db.select().from(revokedTokens).where(and(eq(revokedTokens.tenant, row.tenant), eq(revokedTokens.id, row.id))).get();
	return stored ?? (row as typeof revokedTokens.$inferSelect);
}

/** `tenant/id` of revoked tokens that have not expired yet (expired ones are refused anyway). */
export async function listRevokedTokens(database: D1Database, now: number): Promise<string[]> {
	const rows = await drizzle(database).select({ tenant: revokedTokens.tenant, id: revokedTokens.id }).from(revokedTokens).where(gt(revokedTokens.expiresAt, now)).all();
	return rows.map((row) => `${row.tenant}/${row.id}`);
}
