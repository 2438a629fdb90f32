/**
 * A session's life: creation (plain or seeded, as a fork is), its view, policy updates and
 * deletion. Deletion empties every capability's content tables in one transaction, leaves a
 * content-free tombstone, and hands the external purge (D1 rows, R2 prefix) to timers.
 */
import type { Json } from "../../schemas/common";
import { type Failure, fail, ok, type Result } from "../../errors";
import { type DeletedSession, MAX_LAYERS, type Session, type UpdateSessionBody } from "../../schemas/sessions";
import { emptyContent } from "../capabilities";
import * as audit from "../audit/audit";
import { scheduleCompaction } from "../compaction/compactor";
import { rescheduleArchiving } from "../retention/archive";
import { scheduleRetention } from "../retention/retention";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import type { WriteUploads } from "../kernel/uploads";
import { sessionNotFound } from "../kernel/failures";
import { keyOptions, type WriteOptions, type WriteResult } from "../kernel/write-spec";
import { purgePending, schedulePurge } from "../projection/drain";
import * as outbox from "../projection/outbox";
import { bumpVersion, indexRow, insertSession, linksOf, markDeleted, type NewSession, readSession, type SessionRow, sessionPolicy } from "./session-row";
import { sessionView } from "./view";

/**
 * A deletion made for a reason of its own (an erasure by subject, retention): it names
 * itself, re-checks its reason inside the transaction, and may complete the timer it runs in.
 */
export interface DeletionHook {
	operation: string;
	/** Inside the deletion's transaction, before the content tables are emptied; a Failure rolls it back. */
	beforeDelete: (row: SessionRow, now: number) => Failure | null;
	timer?: timers.TimerRun;
}

/** Creates the session. A second create of the same id is a 409 unless it is a retry. */
export function createSession(session: SessionContext, input: NewSession, options: WriteOptions): Promise<WriteResult<Session>> {
	return createWith(session, input, options, { operation: "create", fingerprinted: input });
}

/**
 * Creates the session in one transaction, `seed` filling it before it is first seen and
 * `prepare` uploading what the seed will reference; a retry of the same create gets the
 * first response, any other create of the id a 409, a create of a deleted id a 410.
 */
export function createWith(
	session: SessionContext,
	input: NewSession,
	options: WriteOptions,
	how: { operation: string; fingerprinted: unknown; prepare?: (uploads: WriteUploads) => Promise<void>; seed?: (now: number) => void },
): Promise<WriteResult<Session>> {
	const prepare = how.prepare;
	return session.kernel.write({
		operation: how.operation,
		input: how.fingerprinted,
		options: keyOptions(options),
		precondition: "create",
		owner: { tenant: input.tenant, sessionId: input.id },
		prepare: prepare ? ({ uploads }) => prepare(uploads) : undefined,
		apply: ({ now }) => {
			insertSession(session.sql, input, now);
			how.seed?.(now);
			const row = readSession(session.sql) as SessionRow;
			scheduleCompaction(session.sql, row, [], now);
			scheduleRetention(session.sql, row);
			rescheduleArchiving(session.sql, row);
			outbox.project(session.sql, { kind: "write", session: indexRow(row) }, now);
			return ok(sessionView(session, row, now));
		},
	});
}

/** The session's version, counters, lease, projection lag and dead letters. */
export function describe(session: SessionContext): Promise<Result<Session>> {
	return session.kernel.read((row) => ok({ ...sessionView(session, row, Date.now()), storage: storageOf(session.sql) }));
}

/** Changes agent, subject, metadata or policy fields; a write like any other. */
export function updateSession(session: SessionContext, body: UpdateSessionBody, options: WriteOptions): Promise<WriteResult<Session>> {
	const { expectedVersion: _expected, ...change } = body;
	return session.kernel.write({
		operation: "update",
		input: change,
		options,
		apply: ({ row, now }) => {
			const current = row as SessionRow;
			const policy = { ...sessionPolicy(current), ...change.policy };
			const metadata = change.metadata ?? (JSON.parse(current.metadata) as Record<string, Json>);
			const links = change.links === undefined ? ok(linksOf(current)) : mergeLinks(current, change.links);
			if (!links.ok) return links;
			session.sql.exec(
				"UPDATE session SET agent = ?, subject = ?, metadata = ?, policy = ?, links = ?",
				change.agent === undefined ? current.agent : change.agent,
				change.subject === undefined ? current.subject : change.subject,
				JSON.stringify(metadata),
				JSON.stringify(policy),
				Object.keys(links.value).length > 0 ? JSON.stringify(links.value) : null,
			);
			const updated = bumpVersion(session.sql, {}, now);
			scheduleCompaction(session.sql, updated, [], now);
			if (change.policy?.retention !== undefined) {
				scheduleRetention(session.sql, updated);
				rescheduleArchiving(session.sql, updated);
			}
			outbox.project(session.sql, { kind: "write", session: indexRow(updated) }, now);
			return ok(sessionView(session, updated, now));
		},
	});
}

/**
 * Deletes the session everywhere. Its storage is wiped in one transaction that leaves a
 * content-free tombstone and the purge timers; R2 and D1 are purged right away when they
 * answer, else by the alarm until done. Repeating the call returns the tombstone. A held
 * lease does not block deletion: erasure requests outrank writers.
 */
export async function deleteSession(session: SessionContext, options: WriteOptions, hook?: DeletionHook): Promise<Result<DeletedSession>> {
	const existing = session.kernel.session();
	if (!existing) return sessionNotFound();
	if (existing.status === "active") {
		const erased = await session.kernel.write({
			operation: hook?.operation ?? "delete",
			timer: hook?.timer,
			options: { expectedVersion: options.expectedVersion },
			precondition: "erase",
			apply: ({ row, now }) => {
				const current = row as SessionRow;
				const refused = hook?.beforeDelete(current, now);
				if (refused) return refused;
				emptyContent(session.sql);
				// The audit trail keeps who touched the session and when, not what (key names, window parameters).
				audit.dropContent(session.sql);
				outbox.clear(session.sql);
				timers.cancelIdle(session.sql);
				const tombstone = markDeleted(session.sql, now);
				outbox.project(session.sql, { kind: "purge", session: indexRow(tombstone) }, now);
				timers.schedule(session.sql, outbox.DRAIN_TIMER, "", now);
				schedulePurge(session.sql, current.tenant, current.id, now);
				return ok(null);
			},
		});
		if (!erased.ok && erased.code !== "session_deleted") return erased;
		await session.kernel.runDueTimers(Date.now());
	}
	const row = session.kernel.session() as SessionRow;
	return ok({
		id: row.id,
		status: "deleted",
		deletedAt: new Date(row.deleted_at ?? row.updated_at).toISOString(),
		purge: purgePending(session.sql) ? "pending" : "complete",
	});
}

/** The links after a PATCH: null removes a layer; a session cannot be a layer of itself. */
function mergeLinks(row: SessionRow, change: Record<string, string | null>): Result<Record<string, string>> {
	const links: Record<string, string> = { ...linksOf(row) };
	for (const [layer, sessionId] of Object.entries(change)) {
		if (sessionId === null) delete links[layer];
		else if (sessionId === row.id) return fail("validation_failed", "A session cannot be a layer of itself", { issues: [{ path: `links.${layer}`, message: "the session's own id" }] });
		else links[layer] = sessionId;
	}
	if (Object.keys(links).length > MAX_LAYERS) {
		return fail("validation_failed", `A session links at most ${MAX_LAYERS} layers`, { issues: [{ path: "links", message: `at most ${MAX_LAYERS}` }] });
	}
	return ok(links);
}

/** Where the session's bytes are: its own SQLite database, and R2 (blobs and archives it references). */
function storageOf(sql: SqlStorage): { hotBytes: number; archivedBytes: number } {
	const archivedBytes = sql
		.exec<{ n: number }>(
			`SELECT coalesce((SELECT sum(archive_bytes) FROM compactions), 0) + coalesce((SELECT sum(archive_bytes) FROM segments), 0)
			      + coalesce((SELECT sum(bytes) FROM (SELECT blob_sha256, max(blob_bytes) AS bytes FROM events WHERE blob_sha256 IS NOT NULL GROUP BY blob_sha256
			                  UNION SELECT blob_sha256, max(blob_bytes) FROM state WHERE blob_sha256 IS NOT NULL GROUP BY blob_sha256)), 0) AS n`,
		)
		.one().n;
	return { hotBytes: sql.databaseSize, archivedBytes };
}
