import { z } from "@hono/zod-openapi";
import { TenantId, Timestamp } from "./common";
import { Scopes } from "./scopes";

export const Role = z.enum(["admin", "writer", "reader"]);
export type Role = z.infer<typeof Role>;

export const CreateKeyBody = z
	.object({
		tenant: TenantId.optional().openapi({ description: "Defaults to the caller's tenant; only the bootstrap key may name another" }),
		role: Role,
		name: z.string().min(1).max(200).optional(),
		scopes: Scopes.pick({ sessions: true, namespaces: true })
			.partial()
			.strict()
			.optional()
			.openapi({ description: "Which sessions and namespaces it may use (default: all); its role gives the operations" }),
		agent: z.string().min(1).max(200).optional().openapi({ description: "Stamped on every read and write it makes (audit trail)" }),
	})
	.strict()
	.openapi("CreateApiKey");

export const ApiKeyInfo = z
	.object({
		id: z.string(),
		tenant: TenantId,
		role: Role,
		name: z.string().nullable(),
		scopes: Scopes,
		agent: z.string().nullable(),
		createdAt: Timestamp,
		revokedAt: Timestamp.nullable(),
	})
	.openapi("ApiKey");

export const CreatedKey = ApiKeyInfo.extend({
	key: z.string().openapi({ description: "The secret; shown once, stored only as a hash" }),
}).openapi("CreatedApiKey");

export const KeyParams = z.object({ keyId: z.string().min(1).max(64).openapi({ param: { name: "keyId", in: "path" } }) });
