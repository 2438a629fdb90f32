/**
 * Import: recreates a session from its export (export.ts) under a new id, in one kernel
 * write. Blobs and rebuilt compaction archives are uploaded first (each blob's hash is checked
 * against its content); then every row goes in, column by column against the table's own
 * schema, in one transaction: a document that does not fit (unknown column, duplicate key,
 * a stub without its archived view) is refused whole, with nothing created. Timers and the
 * D1 index are re-derived from what was imported.
 */
import { insertRow } from "../kernel/rows";
import { fromBase64 } from "../graph/bytes";
import { hashed, sessionPrefix } from "../../blobs/blob-store";
import { fail, ok } from "../../errors";
import type { ExportedRow, ImportDocument } from "../../schemas/portability";
import type { Event } from "../../schemas/events";
import type { Session } from "../../schemas/sessions";
import { rederiveApprovals } from "../approvals/operations";
import { scheduleCompaction } from "../compaction/compactor";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import { keyOptions, type WriteOptions, type WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { indexArchivedView } from "../search/feed";
import { RESUME_TIMER } from "../sessions/pause";
import { indexRow, readSession, type SessionRow } from "../sessions/session-row";
import { z } from "@hono/zod-openapi";
import { SessionId } from "../../schemas/common";
import { LayerName, MAX_LAYERS } from "../../schemas/sessions";
import { sessionView } from "../sessions/view";
import { EXPORTED_TABLES } from "./export";


/** The table's columns by name, each with its declared type. */
function columnsOf(sql: SqlStorage, table: string): Map<string, string> {
	return new Map(sql.exec<{ name: string; type: string }>(`SELECT name, type FROM pragma_table_info('${table}')`).toArray().map((column) => [column.name, column.type]));
}

function insertChecked(sql: SqlStorage, table: string, row: ExportedRow, columns: Map<string, string>): void {
	const unknown = Object.keys(row).filter((name) => !columns.has(name));
	if (unknown.length > 0) throw new ImportMismatch(`${table} has no column ${unknown.join(", ")}`);
	const values = Object.entries(row).map(([column, value]): [string, SqlStorageValue] => {
		// Bytes go where bytes are read back, and only there: anything else would fail the first read of the row.
		const isBytes = value !== null && typeof value === "object";
		if (isBytes !== (columns.get(column) === "BLOB") && value !== null) throw new ImportMismatch(`${table}.${column} ${isBytes ? "holds no bytes" : "holds bytes, as {base64}"}`);
		return [column, isBytes ? bytesOf(value.base64) : value];
	});
	insertRow(sql, table, Object.fromEntries(values));
}

function bytesOf(base64: string): ArrayBuffer {
	const bytes = fromBase64(base64);
	return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

class ImportMismatch extends Error {}

/** Every blob a row references must come with the document. */
function missingBlob(document: ImportDocument): string | null {
	const present = new Set(document.blobs.map((blob) => blob.sha256));
	for (const { row } of document.rows) {
		if (typeof row.blob_sha256 === "string" && !present.has(row.blob_sha256)) return row.blob_sha256;
	}
	return null;
}

const LinksColumn = z.record(LayerName, SessionId).refine((links) => Object.keys(links).length <= MAX_LAYERS);

/** The session columns an import must get as integers (null where the column allows it). */
const INTEGER_COLUMNS = ["version", "last_seq", "event_count", "state_key_count", "tokens_total", "created_at", "updated_at", "context_tokens", "summary_tokens"];
const NULLABLE_INTEGER_COLUMNS = ["reported_input_tokens", "reported_at_context", "last_compaction_at", "paused_at", "pause_until"];

/** What is wrong with the session line's values, if anything (types, JSON objects). */
function sessionRowProblem(row: ExportedRow): string | null {
	for (const column of INTEGER_COLUMNS) if (!Number.isSafeInteger(row[column])) return `session ${column} must be an integer`;
	for (const column of NULLABLE_INTEGER_COLUMNS) {
		if (row[column] !== undefined && row[column] !== null && !Number.isSafeInteger(row[column])) return `session ${column} must be an integer or null`;
	}
	if (row.links !== undefined && row.links !== null) {
		try {
			if (!LinksColumn.safeParse(JSON.parse(String(row.links))).success) return "session links must map layer names to session ids";
		} catch {
			return "session links must map layer names to session ids";
		}
	}
	for (const column of ["metadata", "policy"]) {
		try {
			const parsed: unknown = JSON.parse(String(row[column]));
			if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return `session ${column} must be a JSON object`;
		} catch {
			return `session ${column} must be a JSON object`;
		}
	}
	return null;
}

/** Rebuilt archives: each compaction's file holds the archived views of its stubs, by seq. */
function archivesOf(document: ImportDocument): Map<string, string> {
	const byKey = new Map<string, string[]>();
	const compactionKeys = new Map<number, string>();
	for (const { kind, row } of document.rows) {
		if (kind !== "compaction" || row.archive_key === null || row.archive_key === undefined) continue;
		if (typeof row.archive_key !== "string" || !/^archives\/[^/]+\.jsonl$/.test(row.archive_key)) {
			throw new ImportMismatch(`compaction ${String(row.id)} has an archive key outside archives/`);
		}
		compactionKeys.set(row.id as number, row.archive_key);
	}
	for (const { kind, row, archived } of document.rows) {
		// Exports carry segmented content inline: a segment reference would point at nothing here.
		if (kind === "event" && row.segment_id !== null && row.segment_id !== undefined) throw new ImportMismatch(`event ${String(row.seq)} refers to a segment`);
		if (kind !== "event" || row.archived_by === null || row.archived_by === undefined) continue;
		const key = compactionKeys.get(row.archived_by as number);
		if (!key || !archived) throw new ImportMismatch(`event ${String(row.seq)} is archived but its archive content is missing`);
		if (archived.seq !== row.seq) throw new ImportMismatch(`event ${String(row.seq)} carries the archived view of event ${String(archived.seq)}`);
		const lines = byKey.get(key) ?? [];
		lines.push(JSON.stringify(archived));
		byKey.set(key, lines);
	}
	return new Map([...byKey].map(([key, lines]) => [key, `${lines.join("\n")}\n`]));
}

export function importSession(session: SessionContext, tenant: string, id: string, document: ImportDocument, options: WriteOptions): Promise<WriteResult<Session>> {
	return session.kernel.write({
		operation: "import",
		input: { id, document },
		options: keyOptions(options),
		precondition: "create",
		owner: { tenant, sessionId: id },
		prepare: async ({ uploads }) => {
			const problem = sessionRowProblem(document.session) ?? (missingBlob(document) ? `blob ${missingBlob(document)} is referenced but not included` : null);
			if (problem) return fail("validation_failed", `The document is inconsistent: ${problem}`);
			for (const blob of document.blobs) {
				if ((await hashed(blob.content)).sha256 !== blob.sha256) return fail("validation_failed", `Blob ${blob.sha256} does not match its content`, { sha256: blob.sha256 });
				await uploads.putContent(blob.content);
			}
			let archives: Map<string, string>;
			try {
				archives = archivesOf(document);
			} catch (error) {
				if (error instanceof ImportMismatch) return fail("validation_failed", `The document is inconsistent: ${error.message}`);
				throw error;
			}
			for (const [relative, jsonl] of archives) {
				const name = relative.replace(/^archives\//, "").replace(/\.jsonl$/, "");
				await uploads.putArchive(name, jsonl, `# Session ${id}: imported archive ${name}\n`);
			}
			return null;
		},
		apply: ({ now }) => {
			const { sql } = session;
			try {
				// An import creates a live session, whatever the document says of the one it came from.
				// A copy is never closed: the subagent contract that closed the original is not exported with it.
				insertChecked(
					sql,
					"session",
					{ ...document.session, singleton: 1, tenant, id, parent_id: null, forked_from: null, status: "active", deleted_at: null, closed_at: null, close_reason: null },
					columnsOf(sql, "session"),
				);
				for (const { table, kind } of EXPORTED_TABLES) {
					const columns = columnsOf(sql, table);
					for (const line of document.rows) {
						if (line.kind !== kind) continue;
						const row = kind === "compaction" && typeof line.row.archive_key === "string" ? { ...line.row, archive_key: `${sessionPrefix(tenant, id)}${line.row.archive_key}` } : line.row;
						insertChecked(sql, table, row, columns);
						// A compacted event comes as a stub with its archived view: its text stays searchable.
						if (kind === "event" && line.archived) indexArchivedView(sql, line.archived as unknown as Event);
					}
				}
			} catch (error) {
				const message = error instanceof Error ? error.message : String(error);
				return fail("validation_failed", `The document does not fit a session: ${message}`);
			}
			const row = readSession(sql) as SessionRow;
			const inconsistency = inconsistencyOf(sql, row);
			if (inconsistency) return fail("validation_failed", `The document is inconsistent: ${inconsistency}`);
			try {
				rederive(session, row, now);
				return ok(sessionView(session, row, now));
			} catch (error) {
				return fail("validation_failed", `The document does not fit a session: ${error instanceof Error ? error.message : String(error)}`);
			}
		},
	});
}

/**
 * What would break the session's invariants later (a hand-edited document): seqs and versions
 * beyond the session's own counters would collide with the next write.
 */
function inconsistencyOf(sql: SqlStorage, row: SessionRow): string | null {
	const maxSeq = sql.exec<{ n: number | null }>("SELECT max(seq) AS n FROM events").one().n ?? 0;
	if (maxSeq > row.last_seq) return `event seq ${maxSeq} is beyond the session's last_seq ${row.last_seq}`;
	for (const table of ["events", "state_log", "compactions", "restores", "checkpoints"]) {
		const maxVersion = sql.exec<{ n: number | null }>(`SELECT max(version) AS n FROM ${table}`).one().n ?? 0;
		if (maxVersion > row.version) return `a ${table} row at version ${maxVersion} is beyond the session's version ${row.version}`;
	}
	// A graph's reads filter and order through SQLite's JSON functions, which fail on anything else.
	const notJson = sql
		.exec<{ id: string }>("SELECT checkpoint_id AS id FROM graph_checkpoints WHERE NOT json_valid(channel_versions) OR NOT json_valid(metadata) LIMIT 1")
		.toArray()[0];
	if (notJson) return `graph checkpoint ${notJson.id} holds channel versions or metadata that are not JSON`;
	return null;
}

/** What an imported session needs besides its rows: its timers and its D1 index rows. */
function rederive(session: SessionContext, row: SessionRow, now: number): void {
	const { sql } = session;
	scheduleCompaction(sql, row, [], now);
	if (row.pause_until !== null) timers.schedule(sql, RESUME_TIMER, "", row.pause_until);
	rederiveApprovals(sql, row, now);
	// The imported events reach D1 past the drain's mark (projection/appended.ts), after this row.
	project(sql, { kind: "write", session: indexRow(row) }, now);
}

