/**
 * Tenant defaults, read when a session is created. Each isolate keeps what it read for
 * CACHE_MS, so creating sessions does not cost a D1 query each; a change reaches every
 * isolate within that time. While D1 is failing, a create goes on with what is cached, or
 * with no defaults (logged): creating a session never depends on D1.
 */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { RetentionPolicy } from "../schemas/sessions";
import { tenantSettings } from "./schema";

const CACHE_MS = 30_000;
const cache = new Map<string, { retention: RetentionPolicy | null; readAt: number }>();

export async function tenantRetention(database: D1Database, tenant: string): Promise<RetentionPolicy | null> {
	const cached = cache.get(tenant);
	if (cached && Date.now() - cached.readAt < CACHE_MS) return cached.retention;
	try {
		const row = await drizzle(database).select().from(tenantSettings).where(eq(tenantSettings.tenant, tenant)).get();
		const retention = row?.retention ? (JSON.parse(row.retention) as RetentionPolicy) : null;
		cache.set(tenant, { retention, readAt: Date.now() });
		return retention;
	} catch (error) {
		console.warn(JSON.stringify({ level: "warn", msg: "tenant defaults unavailable; creating without them", tenant, error: String(error) }));
		return cached?.retention ?? null;
	}
}

export async function setTenantRetention(database: D1Database, tenant: string, retention: RetentionPolicy | null): Promise<void> {
	const row = { tenant, retention: retention === null ? null : JSON.stringify(retention), updatedAt: Date.now() };
	await drizzle(database).insert(tenantSettings).values(row).onConflictDoUpdate({ target: tenantSettings.tenant, set: { retention: row.retention, updatedAt: row.updatedAt } });
	cache.set(tenant, { retention, readAt: Date.now() });
}
