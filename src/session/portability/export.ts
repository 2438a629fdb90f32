/**
 * Export: the whole session as one NDJSON document, lossless and deterministic. Every row of
 * every content table in primary-key order (archived events with the view kept in their R2
 * archive), then the content of every R2 blob the rows reference, then an `end` line that
 * counts the lines (a truncated document is refused on import). BLOB columns go as base64. Operational tables
 * (idempotency, lease, outbox, timers) are not exported: they are re-derived on import.
 *
 * The rows are read in one synchronous step, so the document is one version of the session;
 * the R2 reads that follow fetch immutable objects. Exporting the import of an export gives
 * the same bytes but for the session id.
 */
import { sessionPrefix } from "../../blobs/blob-store";
import { fail, ok, type Result } from "../../errors";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type ExportLine, type ExportedRow, type TableKind } from "../../schemas/portability";
import { loadArchived } from "../context/window";
import { toBase64 } from "../graph/bytes";
import type { EventRow } from "../events/log";
import type { SessionContext } from "../kernel/session-context";

/** Tables exported, with their kind and primary-key order. */
export const EXPORTED_TABLES: ReadonlyArray<{ kind: TableKind; table: string; order: string }> = [
	{ kind: "event", table: "events", order: "seq" },
	{ kind: "state", table: "state", order: "ns, key" },
	{ kind: "state_log", table: "state_log", order: "ns, key, version" },
	{ kind: "compaction", table: "compactions", order: "id" },
	{ kind: "archived_event", table: "archived_events", order: "compaction_id, seq" },
	{ kind: "restore", table: "restores", order: "version" },
	{ kind: "checkpoint", table: "checkpoints", order: "version, name" },
	{ kind: "escalation", table: "escalations", order: "subject" },
	{ kind: "retraction", table: "retractions", order: "kind, ref, version" },
	// A LangGraph thread's checkpoints, channel values, pending writes and mirrored messages.
	{ kind: "graph_checkpoint", table: "graph_checkpoints", order: "checkpoint_ns, checkpoint_id" },
	{ kind: "graph_blob", table: "graph_blobs", order: "checkpoint_ns, channel, version" },
	{ kind: "graph_write", table: "graph_writes", order: "checkpoint_ns, checkpoint_id, task_id, idx" },
	{ kind: "graph_message", table: "graph_messages", order: "message_id" },
];

/**
 * Session columns that belong to where the session lives, not to what it holds: its place in
 * a lineage included (a copy is a new session, not another child or fork of the original's parent).
 */
export const LOCAL_SESSION_COLUMNS = ["singleton", "tenant", "id", "parent_id", "forked_from"];

/** Rows one export may hold: it is read into memory in one step. */
const MAX_EXPORT_ROWS = 200_000;

const encoder = new TextEncoder();

/** The export as a stream of NDJSON lines. */
export function exportSession(session: SessionContext): Promise<Result<ReadableStream<Uint8Array>>> {
	return session.kernel.read(async (row) => {
		const { sql } = session;
		const total = EXPORTED_TABLES.reduce((sum, { table }) => sum + sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n, 0);
		if (total > MAX_EXPORT_ROWS) return fail("export_too_large", `The session holds ${total} rows; an export holds at most ${MAX_EXPORT_ROWS}`, { rows: total, maxRows: MAX_EXPORT_ROWS });
		const prefix = sessionPrefix(row.tenant, row.id);
		const sessionRow = Object.fromEntries(Object.entries(row).filter(([column]) => !LOCAL_SESSION_COLUMNS.includes(column))) as ExportedRow;
		const tables = EXPORTED_TABLES.map(({ kind, table, order }) => ({
			kind,
			rows: sql
				.exec<Record<string, SqlStorageValue>>(`SELECT * FROM ${table} ORDER BY ${order}`)
				.toArray()
				.map((stored) => relativeKeys(kind, bytesAsBase64(stored), prefix)),
		}));
		const hashes = sql
			.exec<{ sha: string }>(
				`SELECT blob_sha256 AS sha FROM events WHERE blob_sha256 IS NOT NULL UNION SELECT blob_sha256 FROM state WHERE blob_sha256 IS NOT NULL
				 UNION SELECT blob_sha256 FROM state_log WHERE blob_sha256 IS NOT NULL UNION SELECT blob_sha256 FROM graph_blobs WHERE blob_sha256 IS NOT NULL
				 UNION SELECT blob_sha256 FROM graph_writes WHERE blob_sha256 IS NOT NULL ORDER BY 1`,
			)
			.toArray()
			.map((entry) => entry.sha);
		const stubs = (tables[0].rows as unknown as EventRow[]).filter((event) => event.archived_by !== null);
		const archived = await loadArchived(sql, session.dependencies.blobs, stubs);
		// Retention segments are this deployment's storage detail: the document carries their
		// events' content inline, and the importing session keeps it hot until its own policy says.
		const segmented = (tables[0].rows as unknown as EventRow[]).filter((event) => event.segment_id !== null && event.archived_by === null);
		const segmentViews = await loadArchived(sql, session.dependencies.blobs, segmented);
		for (const stored of tables[0].rows) {
			if (stored.segment_id === null || stored.segment_id === undefined) continue;
			const view = segmentViews.get(stored.seq as number);
			if (view) {
				stored.content = view.content === undefined ? null : JSON.stringify(view.content);
				stored.metadata = view.metadata ? JSON.stringify(view.metadata) : null;
			}
			stored.segment_id = null;
		}
		const blobs: Array<{ sha256: string; content: string }> = [];
		for (const sha256 of hashes) {
			const content = await session.dependencies.blobs.get(row.tenant, row.id, sha256);
			if (content === null) throw new Error(`blob ${sha256} is missing`);
			blobs.push({ sha256, content });
		}
		const lines: ExportLine[] = [
			{ kind: "header", format: EXPORT_FORMAT, formatVersion: EXPORT_FORMAT_VERSION, sessionId: row.id },
			{ kind: "session", row: sessionRow },
			...tables.flatMap(({ kind, rows }) =>
				rows.map((stored): ExportLine => {
					const view = kind === "event" ? archived.get(stored.seq as number) : undefined;
					return view ? { kind, row: stored, archived: view as unknown as Record<string, unknown> } : { kind, row: stored };
				}),
			),
			...blobs.map((blob): ExportLine => ({ kind: "blob", ...blob })),
		];
		lines.push({ kind: "end", lines: lines.length + 1 });
		let next = 0;
		return ok(
			new ReadableStream<Uint8Array>({
				pull(controller) {
					const chunk = lines.slice(next, next + 200);
					next += chunk.length;
					if (chunk.length === 0) controller.close();
					else controller.enqueue(encoder.encode(chunk.map((line) => `${JSON.stringify(line)}\n`).join("")));
				},
			}),
		);
	});
}

/** BLOB columns (a graph's checkpoints and values) as `{base64}`: JSON has no bytes. */
function bytesAsBase64(stored: Record<string, SqlStorageValue>): ExportedRow {
	return Object.fromEntries(Object.entries(stored).map(([column, value]) => [column, value instanceof ArrayBuffer ? { base64: toBase64(new Uint8Array(value)) } : value]));
}

/** Archive keys are exported relative to the session's prefix, so an import can re-home them. */
function relativeKeys(kind: TableKind, row: ExportedRow, prefix: string): ExportedRow {
	if (kind !== "compaction" || typeof row.archive_key !== "string") return row;
	return { ...row, archive_key: row.archive_key.startsWith(prefix) ? row.archive_key.slice(prefix.length) : row.archive_key };
}
