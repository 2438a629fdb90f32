import { z } from "@hono/zod-openapi";
import { TenantId, Timestamp } from "./common";

export const Role = z.enum(["admin", "writer", "reader"]);
export type Role = z.infer<typeof Role>;

export const CreateKeyBody = z
	.object({
		tenant: TenantId.optional().openapi({ description: "Defaults to the caller's tenant; only the bootstrap key may name another" }),
		role: Role,
		name: z.string().min(1).max(200).optional(),
	})
	.strict()
	.openapi("CreateApiKey");

export const ApiKeyInfo = z
	.object({
		id: z.string(),
		tenant: TenantId,
		role: Role,
		name: z.string().nullable(),
		createdAt: Timestamp,
		revokedAt: Timestamp.nullable(),
	})
	.openapi("ApiKey");

export const CreatedKey = ApiKeyInfo.extend({
	key: z.string().openapi({ description: "The secret; shown once, stored only as a hash" }),
}).openapi("CreatedApiKey");

export const KeyParams = z.object({ keyId: z.string().min(1).max(64).openapi({ param: { name: "keyId", in: "path" } }) });
