/**
 * Erasing a session for a data subject (the session's part of POST /v1/subjects/{s}/erasure).
 * Safe to call again until it answers `erased`: each call gets as far as the stores allow.
 *
 *   1. count what the stores hold (R2 objects, D1 rows): nothing is written if they fail;
 *   2. delete the session through the write kernel, as DELETE does, recording the counts in
 *      the same transaction (re-checking that the subject still matches);
 *   3. finish the purge of R2 and D1 and the projection of the audit trail;
 *   4. redact the D1 audit records (and in `purge` mode drop the tombstone row);
 *   5. wipe the object's storage with deleteAll() and rebuild only the facts: the erasure
 *      record, the audit trail without what it touched, and in `tombstone` mode the
 *      tombstone.
 */
import { fail, ok, type Result } from "../../errors";
import type { SessionErasure } from "../../schemas/erasure";
import * as audit from "../audit/audit";
import { CAPABILITIES, CONTENT_TABLES } from "../capabilities";
import { migrate } from "../kernel/migrations";
import type { SessionContext } from "../kernel/session-context";
import { purgePending } from "../projection/drain";
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
		if (row.status === "active") {
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
		} else {
			kernel.transaction(() => remember(0));
		}
	}
	await kernel.runDueTimers(Date.now());
	if (purgePending(sql) || audit.unprojected(sql, 1).length > 0) return ok(answer(sessionId, "pending", recorded(sql)));

	const tombstone = kernel.session();
	if (!tombstone) return fail("internal_error", "the session row vanished during its erasure");
	let redacted: number;
	try {
		redacted = await dependencies.projection.redactErased({ tenant: tombstone.tenant, sessionId: tombstone.id }, request.mode);
	} catch {
		return ok(answer(sessionId, "pending", recorded(sql)));
	}
	const keep = {
		session: sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM session").toArray(),
		audit: sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM audit").toArray(),
		erasure: recorded(sql) as ErasureRow,
	};
	const objectRedacted = keep.audit.filter((record) => record.what !== null).length;
	await kernel.wipe((fresh) => {
		migrate(fresh, CAPABILITIES);
		if (request.mode === "tombstone") for (const sessionRow of keep.session) insertRow(fresh, "session", sessionRow);
		for (const record of keep.audit) insertRow(fresh, "audit", { ...record, what: null });
		fresh.exec("UPDATE audit_projection SET projected_seq = (SELECT coalesce(max(seq), 0) FROM audit)");
		insertRow(fresh, "erasure", { ...keep.erasure, singleton: 1, audit_redacted: redacted + objectRedacted, erased_at: Date.now() });
	});
	return ok(answer(sessionId, "erased", recorded(sql)));
}

function insertRow(sql: SqlStorage, table: string, row: Record<string, SqlStorageValue>): void {
	const columns = Object.keys(row);
	sql.exec(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((column) => row[column]));
}
