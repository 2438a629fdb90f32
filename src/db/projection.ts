/**
 * Applies outbox changes to the D1 index. Every statement is idempotent and order-safe: a
 * session row is only replaced by a higher version, event rows are insert-or-ignore, and a
 * purge leaves a content-free tombstone. A drain that is cut off midway and re-run, or two
 * drains racing, converge on the same rows.
 */
import { and, eq, isNotNull, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import type { AuditRow } from "../session/audit/audit";
import type { EventIndexRow } from "../session/events/log";
import { approvals, audit, checkpoints, compactions, events, eventText, sessionMetrics, sessions } from "./schema";

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
	paused: number;
	contextTokens: number;
	modelWindow: number;
}

export type CompactionIndexRow = Omit<typeof compactions.$inferInsert, "tenant" | "sessionId">;
export type CheckpointIndexRow = Omit<typeof checkpoints.$inferInsert, "tenant" | "sessionId">;
export type ApprovalIndexRow = Omit<typeof approvals.$inferInsert, "tenant" | "sessionId">;
/** The searchable start of an event's text (session/search/feed.ts bounds it). */
export type EventTextRow = Omit<typeof eventText.$inferInsert, "tenant" | "sessionId" | "id">;

export type ProjectionChange =
	| {
			kind: "write";
			session: SessionIndexRow;
			events?: EventIndexRow[];
			texts?: EventTextRow[];
			compaction?: CompactionIndexRow;
			checkpoint?: CheckpointIndexRow;
			approval?: ApprovalIndexRow;
			/** Approvals no longer in effect (a restore went back to before them). */
			removedApprovals?: string[];
	  }
	| { kind: "purge"; session: SessionIndexRow };

/** D1 allows 100 bound parameters per statement; an event row binds 8. */
const EVENT_ROWS_PER_STATEMENT = 12;
/** An event's text binds 6; its 2,000 characters keep the statement small too. */
const TEXT_ROWS_PER_STATEMENT = 12;

/** How many D1 statements a change becomes (see apply), to bound the size of one batch. */
export function statementsFor(change: ProjectionChange): number {
	if (change.kind === "purge") return 7;
	const eventStatements = Math.ceil((change.events?.length ?? 0) / EVENT_ROWS_PER_STATEMENT) + Math.ceil((change.texts?.length ?? 0) / TEXT_ROWS_PER_STATEMENT);
	return 1 + eventStatements + (change.compaction ? 1 : 0) + (change.checkpoint ? 1 : 0) + (change.approval ? 1 : 0) + (change.removedApprovals?.length ?? 0);
}

export class D1Projection {
	constructor(private readonly database: D1Database) {}

	applyAudit(owner: { tenant: string; sessionId: string }, records: AuditRow[]): Promise<void> {
		return applyAuditRows(this.database, owner, records);
	}

	/** Stores the session's figures as they now stand (absolute values: repeating is harmless). */
	async applyMetrics(owner: { tenant: string; sessionId: string }, figures: Array<{ name: string; label: string; value: number }>): Promise<void> {
		const db = drizzle(this.database);
		const rows = figures.map((figure) => ({ ...owner, ...figure }));
		const statements: BatchItem<"sqlite">[] = [];
		for (let start = 0; start < rows.length; start += METRIC_ROWS_PER_STATEMENT) {
			statements.push(
				db
					.insert(sessionMetrics)
					.values(rows.slice(start, start + METRIC_ROWS_PER_STATEMENT))
					.onConflictDoUpdate({ target: [sessionMetrics.tenant, sessionMetrics.sessionId, sessionMetrics.name, sessionMetrics.label], set: { value: sql`excluded.value` } }),
			);
		}
		const [first, ...rest] = statements;
		if (first) await db.batch([first, ...rest]);
	}

	/** The session's rows in the index (events and their text, compactions, checkpoints, approvals, the session itself). */
	async countSessionRows(owner: { tenant: string; sessionId: string }): Promise<number> {
		const counts = await this.database.batch(
			[
				["events", "session_id"],
				["event_text", "session_id"],
				["compactions", "session_id"],
				["checkpoints", "session_id"],
				["approvals", "session_id"],
				["sessions", "id"],
			].map(([table, column]) => this.database.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant = ? AND ${column} = ?`).bind(owner.tenant, owner.sessionId)),
		);
		return counts.reduce((sum, result) => sum + ((result.results[0] as { n: number } | undefined)?.n ?? 0), 0);
	}

	/**
	 * After an erasure's purge: the audit records keep who, when and which operation but not
	 * what was touched; `purge` also removes the session's tombstone row. Returns the audit
	 * records redacted.
	 */
	async redactErased(owner: { tenant: string; sessionId: string }, mode: "purge" | "tombstone"): Promise<number> {
		const db = drizzle(this.database);
		const redact = db.update(audit).set({ what: null }).where(and(eq(audit.tenant, owner.tenant), eq(audit.sessionId, owner.sessionId), isNotNull(audit.what)));
		const [redacted] = mode === "purge" ? await db.batch([redact, db.delete(sessions).where(and(eq(sessions.tenant, owner.tenant), eq(sessions.id, owner.sessionId)))]) : await db.batch([redact]);
		return (redacted as unknown as D1Result).meta.changes;
	}

	/** Applies the changes in one D1 batch (atomic); throws when D1 fails, changing nothing. */
	async apply(changes: ProjectionChange[]): Promise<void> {
		const db = drizzle(this.database);
		const statements: BatchItem<"sqlite">[] = [];
		let latest: SessionIndexRow | null = null;
		for (const change of changes) {
			const owner = { tenant: change.session.tenant, sessionId: change.session.id };
			if (change.kind === "purge") {
				// Deleting event_text also empties its rows from the search index (a trigger).
				for (const table of [events, eventText, compactions, checkpoints, approvals]) {
					statements.push(db.delete(table).where(and(eq(table.tenant, owner.tenant), eq(table.sessionId, owner.sessionId))));
				}
				statements.push(db.update(audit).set({ what: null }).where(and(eq(audit.tenant, owner.tenant), eq(audit.sessionId, owner.sessionId))));
				latest = newer(latest, change.session);
				continue;
			}
			if (change.compaction) statements.push(db.insert(compactions).values({ ...owner, ...change.compaction }).onConflictDoNothing());
			if (change.checkpoint) statements.push(db.insert(checkpoints).values({ ...owner, ...change.checkpoint }).onConflictDoNothing());
			for (const id of change.removedApprovals ?? []) {
				statements.push(db.delete(approvals).where(and(eq(approvals.tenant, owner.tenant), eq(approvals.sessionId, owner.sessionId), eq(approvals.id, id))));
			}
			if (change.approval) {
				const { id: _id, ...fields } = change.approval;
				statements.push(
					db
						.insert(approvals)
						.values({ ...owner, ...change.approval })
						.onConflictDoUpdate({ target: [approvals.tenant, approvals.sessionId, approvals.id], set: fields, setWhere: lt(approvals.version, sql`excluded.version`) }),
				);
			}
			if (change.events?.length) {
				const rows = change.events.map((event) => ({ ...owner, ...event }));
				for (let start = 0; start < rows.length; start += EVENT_ROWS_PER_STATEMENT) {
					statements.push(db.insert(events).values(rows.slice(start, start + EVENT_ROWS_PER_STATEMENT)).onConflictDoNothing());
				}
			}
			if (change.texts?.length) {
				const rows = change.texts.map((text) => ({ ...owner, ...text }));
				for (let start = 0; start < rows.length; start += TEXT_ROWS_PER_STATEMENT) {
					statements.push(db.insert(eventText).values(rows.slice(start, start + TEXT_ROWS_PER_STATEMENT)).onConflictDoNothing());
				}
			}
			latest = newer(latest, change.session);
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

/** D1 allows 100 bound parameters per statement; a metric row binds 5. */
const METRIC_ROWS_PER_STATEMENT = 19;

/** D1 allows 100 bound parameters per statement; an audit row binds 10. */
const AUDIT_ROWS_PER_STATEMENT = 9;

/**
 * Copies a session's audit records to the tenant-wide trail in one batch. Insert-or-ignore
 * by (tenant, session, seq): a drain cut off and re-run repeats nothing.
 */
export async function applyAuditRows(database: D1Database, owner: { tenant: string; sessionId: string }, records: AuditRow[]): Promise<void> {
	const db = drizzle(database);
	const rows = records.map((record) => ({
		...owner,
		seq: record.seq,
		at: record.at,
		principal: record.principal,
		agent: record.agent,
		operation: record.operation,
		version: record.version,
		what: record.what,
		requestId: record.request_id,
	}));
	const statements: BatchItem<"sqlite">[] = [];
	for (let start = 0; start < rows.length; start += AUDIT_ROWS_PER_STATEMENT) {
		statements.push(db.insert(audit).values(rows.slice(start, start + AUDIT_ROWS_PER_STATEMENT)).onConflictDoNothing());
	}
	const [first, ...rest] = statements;
	if (first) await db.batch([first, ...rest]);
}

function newer(current: SessionIndexRow | null, candidate: SessionIndexRow): SessionIndexRow {
	return !current || candidate.version > current.version ? candidate : current;
}
