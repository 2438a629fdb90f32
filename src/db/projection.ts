/**
 * Applies outbox changes to the D1 index. Every statement is idempotent and order-safe (see
 * index-batch.ts): a session row is only replaced by a higher version, event rows are
 * insert-or-ignore, and a purge leaves a content-free tombstone. A drain that is cut off midway
 * and re-run, or two drains racing, converge on the same rows.
 */
import { and, eq, isNotNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { EventIndexRow } from "../session/events/log";
import { type IndexBatch, type IndexOwner, indexStatements } from "./index-batch";
import { approvals, audit, checkpoints, compactions, eventText, sessions } from "./schema";

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

/** Where a session's drain sends its batch: straight to D1, or to its shard's projector. */
export interface IndexWriter {
	/** Resolves once D1 holds every row of the batch; throws, acknowledging nothing, otherwise. */
	write(batch: IndexBatch): Promise<void>;
	countSessionRows(owner: IndexOwner): Promise<number>;
	redactErased(owner: IndexOwner, mode: "purge" | "tombstone"): Promise<number>;
}

export class D1Projection implements IndexWriter {
	constructor(private readonly database: D1Database) {}

	write(batch: IndexBatch): Promise<void> {
		return this.writeAll([batch]);
	}

	/** Applies the batches in one D1 call (atomic), their rows sharing statements; throws when D1 fails, changing nothing. */
	async writeAll(batches: IndexBatch[]): Promise<void> {
		const db = drizzle(this.database);
		const [first, ...rest] = indexStatements(db, batches);
		if (first) await db.batch([first, ...rest]);
	}

	/** The session's rows in the index (events and their text, compactions, checkpoints, approvals, the session itself). */
	async countSessionRows(owner: IndexOwner): Promise<number> {
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
	async redactErased(owner: IndexOwner, mode: "purge" | "tombstone"): Promise<number> {
		const db = drizzle(this.database);
		const redact = db.update(audit).set({ what: null }).where(and(eq(audit.tenant, owner.tenant), eq(audit.sessionId, owner.sessionId), isNotNull(audit.what)));
		const [redacted] = mode === "purge" ? await db.batch([redact, db.delete(sessions).where(and(eq(sessions.tenant, owner.tenant), eq(sessions.id, owner.sessionId)))]) : await db.batch([redact]);
		return (redacted as unknown as D1Result).meta.changes;
	}
}
