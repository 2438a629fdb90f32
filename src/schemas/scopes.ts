import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common";

/** What a principal may do: read, write, and administer (keys, tokens, erasure, metrics). */
export const Operation = z.enum(["read", "write", "admin"]);
export type Operation = z.infer<typeof Operation>;

/**
 * Which sessions: `*` (all of the tenant's), an exact id (`user:42`), a prefix ending in `*`
 * (`support:*`), or `subject=<subject>` (every session whose subject is that, checked inside
 * the session's object, where the subject lives).
 */
export const SessionPattern = z
	.string()
	.min(1)
	.max(209)
	.regex(/^(\*|[A-Za-z0-9][A-Za-z0-9._:-]*\*?|subject=.{1,200})$/, "use *, an id, an id prefix ending in *, or subject=<subject>")
	.openapi({ example: "support:*" });

/** A state namespace, or a prefix of namespaces ending in `*`. */
export const NamespacePattern = z
	.string()
	.min(1)
	.max(129)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*\*?$/, "use a namespace name, or a prefix ending in *");

export const Scopes = z
	.object({
		operations: z.array(Operation).min(1).max(3),
		sessions: z.array(SessionPattern).min(1).max(50).default(["*"]).openapi({ description: "Default: every session of the tenant" }),
		namespaces: z
			.array(NamespacePattern)
			.max(50)
			.nullable()
			.default(null)
			.openapi({ description: "State namespaces it may read and write (also within context windows); null: all" }),
		delegate: z.boolean().default(false).openapi({ description: "Whether it may mint tokens (never wider than itself); admin implies it" }),
	})
	.strict()
	.openapi("Scopes");
export type Scopes = z.infer<typeof Scopes>;

/** The longest a token may live: revocations are kept this long. */
export const MAX_TTL_SECONDS = 7 * 24 * 3600;

export const CreateTokenBody = z
	.object({
		scopes: Scopes,
		ttlSeconds: z.number().int().min(60).max(MAX_TTL_SECONDS).default(3600).openapi({ description: "Lifetime; 60 s to 7 days, default 1 hour" }),
		agent: z.string().min(1).max(200).optional().openapi({ description: "Stamped on every read and write the token makes (audit trail)" }),
	})
	.strict()
	.openapi("CreateToken");

export const TokenInfo = z
	.object({
		id: z.string(),
		tenant: z.string(),
		scopes: Scopes,
		agent: z.string().nullable(),
		issuedBy: z.string().openapi({ description: "The principal that minted it" }),
		expiresAt: Timestamp,
	})
	.openapi("Token");

export const CreatedToken = TokenInfo.extend({
	token: z.string().openapi({ description: "A signed JWT (HS256); send it as 'Authorization: Bearer <token>'" }),
}).openapi("CreatedToken");

export const TokenParams = z.object({ tokenId: z.string().min(1).max(64).openapi({ param: { name: "tokenId", in: "path" } }) });

export const RevokedToken = z
	.object({ id: z.string(), revokedAt: Timestamp, effectiveWithinSeconds: z.number().int() })
	.openapi("RevokedToken");
