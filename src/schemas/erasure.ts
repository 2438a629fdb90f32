import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common";

export const ErasureMode = z.enum(["purge", "tombstone"]).openapi({
	description:
		"tombstone: the session answers 410 and a content-free row stays in the index; purge: no session is left (404, the id can be reused). " +
		"Both keep the audit trail's facts (who, when, which operation) and drop what they touched.",
});

export const StartErasureBody = z.object({ mode: ErasureMode.default("tombstone") }).strict().openapi("StartErasure");

export const SubjectParams = z.object({
	subject: z.string().min(1).max(200).openapi({ param: { name: "subject", in: "path" }, example: "user:42" }),
});
export const ErasureParams = z.object({
	erasureId: z.string().regex(/^era_[0-9a-f]{24}$/, "an erasure id").openapi({ param: { name: "erasureId", in: "path" } }),
});

export const StoreCounts = z
	.object({
		objectRows: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Content rows in the sessions' own storage" }),
		r2Objects: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Blobs and compaction archives" }),
		d1Rows: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Index rows: session, events, compactions, checkpoints, approvals" }),
		auditRedacted: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Audit records whose `what` was dropped (object and D1)" }),
	})
	.openapi("StoreCounts");

export const SessionErasure = z.object({
	sessionId: z.string(),
	state: z.enum(["queued", "pending", "erased", "skipped", "absent"]).openapi({
		description: "queued: not asked yet; pending: a store was unavailable, retried; skipped: its subject changed; absent: no such session",
	}),
	counts: StoreCounts,
});
export type SessionErasure = z.infer<typeof SessionErasure>;

export const Receipt = z
	.object({
		erasureId: z.string(),
		tenant: z.string(),
		subject: z.string().openapi({ description: "SHA-256 (hex) of tenant and subject: the receipt holds no personal data" }),
		mode: ErasureMode,
		sessions: z.array(z.string()),
		counts: StoreCounts,
		startedAt: Timestamp,
		completedAt: Timestamp,
		publicKey: z.string().openapi({ description: "Where the key that verifies the signature is published" }),
	})
	.openapi("ErasureReceipt");
export type Receipt = z.infer<typeof Receipt>;

export const Erasure = z
	.object({
		id: z.string(),
		status: z.enum(["running", "complete"]),
		mode: ErasureMode,
		subject: z.string().openapi({ description: "Hashed, as in the receipt" }),
		startedAt: Timestamp,
		sessions: z.array(SessionErasure),
		lastError: z.string().nullable().openapi({ description: "Why the last step had to be retried (D1 or R2 unavailable)" }),
		receipt: Receipt.nullable(),
		signature: z
			.object({ alg: z.literal("EdDSA"), keyId: z.string(), value: z.string().openapi({ description: "base64url Ed25519 signature of the receipt's canonical JSON" }) })
			.nullable(),
	})
	.openapi("Erasure");
export type Erasure = z.infer<typeof Erasure>;
