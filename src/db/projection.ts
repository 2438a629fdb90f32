/**
 * Applies outbox changes to the D1 index. Every statement is idempotent and order-safe: a
 * session row is only replaced by a higher version, event rows are insert-or-ignore, and a
 * purge leaves a content-free tombstone. A drain that is cut off midway and re-run, or two
 * drains racing, converge on the same rows.
 */
import { and, eq, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import type { EventIndexRow } from "../session/log";
import { events, sessions } from "./schema";

export interface SessionIndexRow {
	tenant: string;
	id: string;
	status: "active" | "deleted";
	agent: string | null;
	subject: string | null;
	parentId: string | null;
	version: number;
	eventCount: number;
	tokensTotal: number;
	createdAt: number;
	updatedAt: number;
	deletedAt: number | null;
}

export type ProjectionChange =
	| { kind: "write"; session: SessionIndexRow; events?: EventIndexRow[] }
	| { kind: "purge"; session: SessionIndexRow };

/** D1 allows 100 bound parameters per statement; an event row binds 8. */
const EVENT_ROWS_PER_STATEMENT = 12;

export class D1Projection {
	constructor(private readonly database: D1Database) {}

	/** Applies the changes in one D1 batch (atomic); throws when D1 fails, changing nothing. */
	async apply(changes: ProjectionChange[]): Promise<void> {
		const db = drizzle(this.database);
		const statements: BatchItem<"sqlite">[] = [];
		let latest: SessionIndexRow | null = null;
		for (const change of changes) {
			if (change.kind === "purge") {
				const { tenant, id } = change.session;
				statements.push(db.delete(events).where(and(eq(events.tenant, tenant), eq(events.sessionId, id))));
			} else if (change.events?.length) {
				const rows = change.events.map((event) => ({
					tenant: change.session.tenant,
					sessionId: change.session.id,
					...event,
				}));
				for (let start = 0; start < rows.length; start += EVENT_ROWS_PER_STATEMENT) {
					statements.push(db.insert(events).values(rows.slice(start, start + EVENT_ROWS_PER_STATEMENT)).onConflictDoNothing());
				}
			}
			if (!latest || change.session.version > latest.version) latest = change.session;
		}
		if (latest) {
			const { tenant, id, ...fields } = latest;
			statements.push(
				db
					.insert(sessions)
					.values(latest)
					.onConflictDoUpdate({
						target: [sessions.tenant, sessions.id],
						set: fields,
						setWhere: lt(sessions.version, sql`excluded.version`),
					}),
			);
		}
		const [first, ...rest] = statements;
		if (first) await db.batch([first, ...rest]);
	}
}
