import { and, desc, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Role } from "../schemas/keys";
import { apiKeys } from "./schema";

export type ApiKeyRow = typeof apiKeys.$inferSelect;

export async function insertApiKey(
	database: D1Database,
	row: { id: string; tenant: string; role: Role; name: string | null; scopes: string | null; agent: string | null; hash: string; createdAt: number },
): Promise<ApiKeyRow> {
	const [inserted] = await drizzle(database).insert(apiKeys).values(row).returning();
	return inserted;
}

export async function findApiKey(database: D1Database, id: string): Promise<ApiKeyRow | undefined> {
	return drizzle(database).select().from(apiKeys).where(eq(apiKeys.id, id)).get();
}

export async function listApiKeys(database: D1Database, tenant: string | null): Promise<ApiKeyRow[]> {
	const query = drizzle(database).select().from(apiKeys);
	return (tenant === null ? query : query.where(eq(apiKeys.tenant, tenant))).orderBy(desc(apiKeys.createdAt)).limit(1000);
}

/** Revokes a key of `tenant` (any tenant when null); returns the row, or undefined if none. */
export async function revokeApiKey(
	database: D1Database,
	id: string,
	tenant: string | null,
	now: number,
): Promise<ApiKeyRow | undefined> {
	const scope = tenant === null ? eq(apiKeys.id, id) : and(eq(apiKeys.id, id), eq(apiKeys.tenant, tenant));
	const db = drizzle(database);
	await db.update(apiKeys).set({ revokedAt: now }).where(and(scope, isNull(apiKeys.revokedAt)));
	return db.select().from(apiKeys).where(scope).get();
}
