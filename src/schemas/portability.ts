import { z } from "@hono/zod-openapi";
import { SessionId } from "./common";

/** The export format's name and version, in its first line. */
export const EXPORT_FORMAT = "edge-context/session";
export const EXPORT_FORMAT_VERSION = 1;

/** A BLOB column's bytes, as base64 (JSON has no bytes). */
export const ExportedBytes = z.object({ base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/) }).strict();

/** A stored row as exported: column → SQLite value (text, integer or real, bytes, or null). */
export const ExportedRow = z.record(z.string().max(64), z.union([z.string(), z.number(), z.null(), ExportedBytes]));
export type ExportedRow = z.infer<typeof ExportedRow>;

export const TABLE_KINDS = [
	"event",
	"state",
	"state_log",
	"compaction",
	"archived_event",
	"restore",
	"checkpoint",
	"escalation",
	"retraction",
	"graph_checkpoint",
	"graph_blob",
	"graph_write",
	"graph_message",
] as const;
export type TableKind = (typeof TABLE_KINDS)[number];

/** One line of an export (NDJSON), in the order written: header, session, tables, blobs, end. */
export const ExportLine = z.discriminatedUnion("kind", [
	z.object({ kind: z.literal("header"), format: z.literal(EXPORT_FORMAT), formatVersion: z.literal(EXPORT_FORMAT_VERSION), sessionId: SessionId }).strict(),
	z.object({ kind: z.literal("session"), row: ExportedRow }).strict(),
	z.object({ kind: z.enum(TABLE_KINDS), row: ExportedRow, archived: z.record(z.string(), z.unknown()).optional() }).strict(),
	z.object({ kind: z.literal("blob"), sha256: z.string().regex(/^[0-9a-f]{64}$/), content: z.string() }).strict(),
	z.object({ kind: z.literal("end"), lines: z.number().int().max(Number.MAX_SAFE_INTEGER).min(3) }).strict(),
]);
export type ExportLine = z.infer<typeof ExportLine>;

/** An export parsed and checked line by line, ready for the new session's object. */
export interface ImportDocument {
	sourceId: string;
	session: ExportedRow;
	rows: Array<{ kind: TableKind; row: ExportedRow; archived?: Record<string, unknown> }>;
	blobs: Array<{ sha256: string; content: string }>;
}

export const ImportQuery = z.object({
	id: SessionId.optional().openapi({ description: "The new session's id; generated when absent" }),
});

export const ExportParams = z.object({ id: SessionId.openapi({ param: { name: "id", in: "path" } }) });
