/**
 * Erasing a session for a data subject (the session's part of POST /v1/subjects/{s}/erasure).
 * Safe to call again until it answers `erased`: each call gets as far as the stores allow.
 *
 *   1. count what the stores hold (R2 objects, D1 rows): nothing is written if they fail;
 *   2. delete the session through the write kernel, as DELETE does, recording the counts in
 *      the same transaction (re-checking that the subject still matches);
 *   3. finish the purge of R2 and D1 and the projection of the audit trail;
 *   4. redact the D1 audit records (and in `purge` mode drop the tombstone row);
 *   5. wipe the object's storage with deleteAll() and rebuild only what must stay: where the
 *      audit trail's seqs go on from, and in `tombstone` mode the tombstone and the erasure's
 *      counts. The audit facts themselves stay in D1, redacted.
 */
import { fail, ok, type Result } from "../../errors";
import type { SessionErasure } from "../../schemas/erasure";
import * as audit from "../audit/audit";
import * as timers from "../kernel/timers";
import { DRAIN_TIMER } from "../projection/outbox";
import { CAPABILITIES, CONTENT_TABLES } from "../capabilities";
import { migrate } from "../kernel/migrations";
import { insertRow } from "../kernel/rows";
import type { SessionContext } from "../kernel/session-context";
import { PURGE_TIMER, purgePending } from "../projection/drain";
import { deleteSession } from "../sessions/lifecycle";

export interface EraseRequest {
	sessionId: string;
	erasureId: string;
	subject: string;
	mode: "purge" | "tombstone";
}

const SUBJECT_CHANGED = "subject_changed";

interface ErasureRow {
	erasure_id: string;
	object_rows: number;
	r2_objects: number;
	d1_rows: number;
	audit_redacted: number;
	erased_at: number | null;
}

function recorded(sql: SqlStorage): ErasureRow | null {
	return sql.exec<ErasureRow & Record<string, SqlStorageValue>>("SELECT * FROM erasure").toArray()[0] ?? null;
}

function answer(sessionId: string, state: SessionErasure["state"], row: ErasureRow | null): SessionErasure {
	return {
		sessionId,
		state,
		counts: { objectRows: row?.object_rows ?? 0, r2Objects: row?.r2_objects ?? 0, d1Rows: row?.d1_rows ?? 0, auditRedacted: row?.audit_redacted ?? 0 },
	};
}

export async function eraseForSubject(session: SessionContext, request: EraseRequest): Promise<Result<SessionErasure>> {
	const { sql, kernel, dependencies } = session;
	const { sessionId } = request;
	const done = recorded(sql);
	if (done?.erased_at != null) return ok(answer(sessionId, "erased", done));
	const row = kernel.session();
	if (!row) return ok(answer(sessionId, "absent", null));
	if (!done) {
		if (row.status === "active" && row.subject !== request.subject) return ok(answer(sessionId, "skipped", null));
		const owner = { tenant: row.tenant, sessionId: row.id };
		let found: { r2: number; d1: number };
		try {
			found = { r2: await dependencies.blobs.countSession(owner.tenant, owner.sessionId), d1: await dependencies.projection.countSessionRows(owner) };
		} catch {
			return ok(answer(sessionId, "pending", null));
		}
		const remember = (objectRows: number) =>
			sql.exec(
				"INSERT OR IGNORE INTO erasure (singleton, erasure_id, mode, object_rows, r2_objects, d1_rows) VALUES (1, ?, ?, ?, ?, ?)",
				request.erasureId,
				request.mode,
				objectRows,
				found.r2,
				found.d1,
			);
		if (kernel.session()?.status === "active") {
			const deleted = await deleteSession(session, {}, {
				operation: "erase",
				beforeDelete: (current) => {
					// The subject changed while the stores were counted: not this subject's session any more.
					if (current.subject !== request.subject) return fail("version_conflict", "The session's subject changed", { reason: SUBJECT_CHANGED });
					remember(CONTENT_TABLES.reduce((sum, table) => sum + sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n, 0));
					return null;
				},
			});
			if (!deleted.ok && deleted.details?.reason === SUBJECT_CHANGED) return ok(answer(sessionId, "skipped", null));
			if (!deleted.ok && deleted.code !== "session_deleted") return deleted;
		}
		// Deleted some other way meanwhile (DELETE, retention): its content was gone already.
		kernel.transaction(() => remember(0));
	}
	// The purges may have given up (parked) during a long outage: an erasure retries them.
	// Records waiting out their delay (projection/outbox.ts) are sent now: the erasure waits on them.
	kernel.transaction(() => {
		timers.revive(sql, [DRAIN_TIMER, PURGE_TIMER], Date.now());
		timers.ensureScheduledBy(sql, DRAIN_TIMER, "", Date.now());
	});
	await kernel.runDueTimers(Date.now());
	if (purgePending(sql) || audit.unprojected(sql, 1).length > 0 || kernel.uploadsInFlight()) return ok(answer(sessionId, "pending", recorded(sql)));

	const tombstone = kernel.session();
	if (!tombstone) return fail("internal_error", "the session row vanished during its erasure");
	let redacted: number;
	try {
		redacted = await dependencies.projection.redactErased({ tenant: tombstone.tenant, sessionId: tombstone.id }, request.mode);
	} catch {
		return ok(answer(sessionId, "pending", recorded(sql)));
	}
	// Read what stays in the same synchronous step as the wipe: another erasure may have wiped meanwhile.
	const counted = recorded(sql);
	if (!counted || counted.erased_at !== null || kernel.uploadsInFlight()) return ok(answer(sessionId, counted?.erased_at != null ? "erased" : "pending", counted));
	const erased: ErasureRow = {
		...counted,
		audit_redacted: redacted + sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit WHERE what IS NOT NULL").one().n,
		erased_at: Date.now(),
	};
	const keep = {
		session: request.mode === "tombstone" ? sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM session").toArray() : [],
		// Records already in D1 and a week old have left the table: the projected mark covers them.
		lastAuditSeq: sql.exec<{ seq: number }>("SELECT max(coalesce((SELECT max(seq) FROM audit), 0), (SELECT projected_seq FROM audit_projection)) AS seq").one().seq,
	};
	await kernel.wipe((fresh) => {
		migrate(fresh, CAPABILITIES);
		// The audit trail's facts are in D1 (redacted above); the object only keeps counting
		// where it left off (audit.ts starts above the projected mark), so a session re-created
		// under a purged id does not reuse seqs.
		fresh.exec("UPDATE audit_projection SET projected_seq = ?", keep.lastAuditSeq);
		if (request.mode === "purge") return;
		for (const sessionRow of keep.session) insertRow(fresh, "session", sessionRow);
		insertRow(fresh, "erasure", { singleton: 1, ...erased });
	});
	return ok(answer(sessionId, "erased", erased));
}
