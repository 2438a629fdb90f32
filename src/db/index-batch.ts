/**
 * What one session's drain sends to the D1 index (its outbox changes, audit records and metric
 * figures), and the statements any number of such batches become. Rows of many batches share
 * multi-row statements: a shard's projector (projector/index-projector.ts) turns the drains of
 * hundreds of sessions into a few statements in one D1 call. Every statement is idempotent and
 * order-safe (session rows only move to a higher version, everything else is insert-or-ignore
 * or an absolute value), so rows of different sessions commute; the statements that do not
 * commute with inserts (a purge's deletes, a restore's removed approvals) cut the batch into
 * segments that run in the order they were written.
 */
import { and, eq, getTableColumns, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { AuditRow } from "../session/audit/audit";
import type { ProjectionChange, SessionIndexRow } from "./projection";
import { approvals, audit, checkpoints, compactions, events, eventText, sessionMetrics, sessions } from "./schema";

export interface IndexOwner {
	tenant: string;
	sessionId: string;
}

export interface MetricFigure {
	name: string;
	label: string;
	value: number;
}

/** One drain's worth of one session: applied together, acknowledged together. */
export interface IndexBatch {
	changes: ProjectionChange[];
	audit?: { owner: IndexOwner; records: AuditRow[] };
	metrics?: { owner: IndexOwner; figures: MetricFigure[] };
}

/**
 * Rows per multi-row statement: D1 binds at most 100 parameters. An event binds 8, its text 6
 * (its 2,000 characters keep the statement small too), a session row 15, an audit row 10, a
 * metric 5.
 */
const ROWS_PER_STATEMENT = { events: 12, texts: 12, sessions: 6, audit: 9, metrics: 19 };

/** The rows of one segment, gathered across batches until something order-sensitive comes. */
class Segment {
	events: (typeof events.$inferInsert)[] = [];
	texts: (typeof eventText.$inferInsert)[] = [];
	/** The highest version seen per session: lower ones would be ignored by D1 anyway. */
	sessions = new Map<string, SessionIndexRow>();
	audit: (typeof audit.$inferInsert)[] = [];
	/** Absolute values: the last one written per figure wins, as it would in D1. */
	metrics = new Map<string, typeof sessionMetrics.$inferInsert>();
	/** Rare rows (compactions, checkpoints, approvals), one statement each as they come. */
	singles: BatchItem<"sqlite">[] = [];

	session(row: SessionIndexRow): void {
		const key = JSON.stringify([row.tenant, row.id]);
		const current = this.sessions.get(key);
		if (!current || row.version > current.version) this.sessions.set(key, row);
	}

	flush(db: DrizzleD1Database, into: BatchItem<"sqlite">[]): void {
		into.push(...this.singles);
		chunked(this.events, ROWS_PER_STATEMENT.events, (rows) => into.push(db.insert(events).values(rows).onConflictDoNothing()));
		chunked(this.texts, ROWS_PER_STATEMENT.texts, (rows) => into.push(db.insert(eventText).values(rows).onConflictDoNothing()));
		chunked([...this.sessions.values()], ROWS_PER_STATEMENT.sessions, (rows) =>
			into.push(
				db
					.insert(sessions)
					.values(rows)
					.onConflictDoUpdate({ target: [sessions.tenant, sessions.id], set: fromExcluded(sessions, ["tenant", "id"]), setWhere: lt(sessions.version, sql`excluded.version`) }),
			),
		);
		chunked(this.audit, ROWS_PER_STATEMENT.audit, (rows) => into.push(db.insert(audit).values(rows).onConflictDoNothing()));
		chunked([...this.metrics.values()], ROWS_PER_STATEMENT.metrics, (rows) =>
			into.push(
				db
					.insert(sessionMetrics)
					.values(rows)
					.onConflictDoUpdate({ target: [sessionMetrics.tenant, sessionMetrics.sessionId, sessionMetrics.name, sessionMetrics.label], set: { value: sql`excluded.value` } }),
			),
		);
		this.events = [];
		this.texts = [];
		this.sessions = new Map();
		this.audit = [];
		this.metrics = new Map();
		this.singles = [];
	}
}

/** The statements for `batches`, in one D1 call; empty when there is nothing to write. */
export function indexStatements(db: DrizzleD1Database, batches: IndexBatch[]): BatchItem<"sqlite">[] {
	const statements: BatchItem<"sqlite">[] = [];
	const segment = new Segment();
	for (const batch of batches) {
		for (const change of batch.changes) addChange(db, change, segment, statements);
		if (batch.audit) {
			const owner = batch.audit.owner;
			for (const record of batch.audit.records) {
				segment.audit.push({
					...owner,
					seq: record.seq,
					at: record.at,
					principal: record.principal,
					agent: record.agent,
					operation: record.operation,
					version: record.version,
					what: record.what,
					requestId: record.request_id,
				});
			}
		}
		if (batch.metrics) {
			const owner = batch.metrics.owner;
			for (const figure of batch.metrics.figures) segment.metrics.set(JSON.stringify([owner.tenant, owner.sessionId, figure.name, figure.label]), { ...owner, ...figure });
		}
	}
	segment.flush(db, statements);
	return statements;
}

function addChange(db: DrizzleD1Database, change: ProjectionChange, segment: Segment, statements: BatchItem<"sqlite">[]): void {
	const owner = { tenant: change.session.tenant, sessionId: change.session.id };
	if (change.kind === "purge") {
		// Inserts gathered so far must land before the deletes, or the purge would miss them.
		segment.flush(db, statements);
		// Deleting event_text also empties its rows from the search index (a trigger).
		for (const table of [events, eventText, compactions, checkpoints, approvals]) {
			statements.push(db.delete(table).where(and(eq(table.tenant, owner.tenant), eq(table.sessionId, owner.sessionId))));
		}
		statements.push(db.update(audit).set({ what: null }).where(and(eq(audit.tenant, owner.tenant), eq(audit.sessionId, owner.sessionId))));
		segment.session(change.session);
		return;
	}
	if (change.removedApprovals?.length) {
		// An earlier upsert of the same approval must not come back after its removal.
		segment.flush(db, statements);
		for (const id of change.removedApprovals) {
			statements.push(db.delete(approvals).where(and(eq(approvals.tenant, owner.tenant), eq(approvals.sessionId, owner.sessionId), eq(approvals.id, id))));
		}
	}
	if (change.compaction) segment.singles.push(db.insert(compactions).values({ ...owner, ...change.compaction }).onConflictDoNothing());
	if (change.checkpoint) segment.singles.push(db.insert(checkpoints).values({ ...owner, ...change.checkpoint }).onConflictDoNothing());
	if (change.approval) {
		const { id: _id, ...fields } = change.approval;
		segment.singles.push(
			db
				.insert(approvals)
				.values({ ...owner, ...change.approval })
				.onConflictDoUpdate({ target: [approvals.tenant, approvals.sessionId, approvals.id], set: fields, setWhere: lt(approvals.version, sql`excluded.version`) }),
		);
	}
	for (const event of change.events ?? []) segment.events.push({ ...owner, ...event });
	for (const text of change.texts ?? []) segment.texts.push({ ...owner, ...text });
	segment.session(change.session);
}

function chunked<T>(rows: T[], size: number, emit: (rows: T[]) => void): void {
	for (let start = 0; start < rows.length; start += size) emit(rows.slice(start, start + size));
}

/** `SET column = excluded.column` for every column but the key: each row of a multi-row upsert keeps its own values. */
function fromExcluded(table: SQLiteTable, key: string[]): Record<string, ReturnType<typeof sql.raw>> {
	const set: Record<string, ReturnType<typeof sql.raw>> = {};
	for (const [field, column] of Object.entries(getTableColumns(table))) {
		if (!key.includes(field)) set[field] = sql.raw(`excluded."${column.name}"`);
	}
	return set;
}
