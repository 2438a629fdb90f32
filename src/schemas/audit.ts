import { z } from "@hono/zod-openapi";
import { json, SessionId, Timestamp, Version } from "./common";

export const AuditRecord = z
	.object({
		seq: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Position in the session's trail" }),
		sessionId: SessionId,
		at: Timestamp,
		principal: z.string().openapi({ description: "bootstrap, key:<id>, token:<id>, or system (the session's own timers)" }),
		agent: z.string().nullable(),
		operation: z.string().openapi({ description: "The API operation, e.g. getContext, putState, appendEvents" }),
		version: Version.openapi({ description: "The session version it read (for a window: the version served) or produced" }),
		what: json()
			.nullable()
			.openapi({ description: "What it touched: window parameters, keys, seq ranges; never values. null once erased" }),
		requestId: z.string().nullable(),
	})
	.openapi("AuditRecord");
export type AuditRecord = z.infer<typeof AuditRecord>;

export const SessionAuditQuery = z.object({
	since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ type: "integer", description: "Records after this seq" }),
	principal: z.string().min(1).max(100).optional(),
	limit: z.coerce.number().int().min(1).max(500).default(100).openapi({ type: "integer" }),
});
export type SessionAuditQuery = z.infer<typeof SessionAuditQuery>;

export const SessionAuditPage = z
	.object({ records: z.array(AuditRecord), nextSince: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable() })
	.openapi("SessionAuditPage");
export type SessionAuditPage = z.infer<typeof SessionAuditPage>;

export const TenantAuditQuery = z.object({
	principal: z.string().min(1).max(100).optional(),
	sessionId: SessionId.optional(),
	from: z.iso.datetime({ offset: true }).optional(),
	to: z.iso.datetime({ offset: true }).optional(),
	limit: z.coerce.number().int().min(1).max(500).default(100).openapi({ type: "integer" }),
	cursor: z.string().max(512).optional(),
});

export const TenantAuditPage = z
	.object({ records: z.array(AuditRecord), nextCursor: z.string().nullable() })
	.openapi("TenantAuditPage");
