import { and, desc, eq, gt, gte, lt, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { indexFilter } from "../auth/scopes";
import { drizzle } from "drizzle-orm/d1";
import type { ListSessionsQuery } from "../schemas/sessions";
import { toPage } from "../paging";
import { sessions } from "./schema";

export type SessionIndexEntry = typeof sessions.$inferSelect;

interface Cursor {
	updatedAt: number;
	id: string;
}

export function encodeCursor(cursor: Cursor): string {
	return btoa(JSON.stringify([cursor.updatedAt, cursor.id])).replace(/=+$/, "");
}

/** The cursor's position, or null when it is not one this API produced. */
export function decodeCursor(text: string): Cursor | null {
	try {
		const [updatedAt, id] = JSON.parse(atob(text)) as unknown[];
		if (typeof updatedAt !== "number" || typeof id !== "string") return null;
		return { updatedAt, id };
	} catch {
		return null;
	}
}

/**
 * One page of a tenant's sessions, newest update first, with keyset pagination on
 * (updated_at, id) so pages stay stable while sessions keep changing. Deleted sessions
 * (tombstones) appear only when asked for with status=deleted.
 */
export async function listSessions(
	database: D1Database,
	tenant: string,
	query: Omit<ListSessionsQuery, "cursor">,
	after: Cursor | null,
	scope: string[] = ["*"],
): Promise<{ rows: SessionIndexEntry[]; next: Cursor | null }> {
	const filters: (SQL | undefined)[] = [eq(sessions.tenant, tenant), eq(sessions.status, query.status ?? "active"), scopeFilter(scope, sessions.id, (subject) => eq(sessions.subject, subject))];
	if (query.agent !== undefined) filters.push(eq(sessions.agent, query.agent));
	if (query.subject !== undefined) filters.push(eq(sessions.subject, query.subject));
	if (query.parentId !== undefined) filters.push(eq(sessions.parentId, query.parentId));
	if (query.updatedAfter !== undefined) filters.push(gt(sessions.updatedAt, Date.parse(query.updatedAfter)));
	if (query.updatedBefore !== undefined) filters.push(lt(sessions.updatedAt, Date.parse(query.updatedBefore)));
	if (after) {
		filters.push(
			or(lt(sessions.updatedAt, after.updatedAt), and(eq(sessions.updatedAt, after.updatedAt), lt(sessions.id, after.id))),
		);
	}
	const rows = await drizzle(database)
		.select()
		.from(sessions)
		.where(and(...filters))
		.orderBy(desc(sessions.updatedAt), desc(sessions.id))
		.limit(query.limit + 1);
	const { page, next } = toPage(rows, query.limit, (row) => ({ updatedAt: row.updatedAt, id: row.id }));
	return { rows: page, next };
}

/**
 * The rows a credential's session patterns admit (ids, id prefixes, subjects), for index
 * queries; undefined when it admits every session. Prefixes are matched by range, not LIKE,
 * so `_` and `%` in ids mean themselves.
 */
export function scopeFilter(patterns: string[], id: SQLiteColumn, ofSubject: (subject: string) => SQL): SQL | undefined {
	const admitted = indexFilter(patterns);
	if (admitted === null) return undefined;
	const conditions: (SQL | undefined)[] = [
		...admitted.ids.map((value) => eq(id, value)),
		...admitted.prefixes.map((prefix) => and(gte(id, prefix), lt(id, `${prefix}\u{10FFFF}`))),
		...admitted.subjects.map(ofSubject),
	];
	return conditions.length > 0 ? or(...conditions) : sql`0`;
}
