import { z } from "@hono/zod-openapi";
import { ContentRef, JsonValue, SessionId, StateName, Timestamp, Version, json } from "./common";

export const StateKeyParams = z.object({
	id: SessionId.openapi({ param: { name: "id", in: "path" } }),
	ns: StateName.openapi({ param: { name: "ns", in: "path" } }),
	key: StateName.openapi({ param: { name: "key", in: "path" } }),
});
export const StateNamespaceParams = StateKeyParams.pick({ id: true, ns: true });

export const PutStateBody = z
	.object({
		value: JsonValue,
		ifVersion: Version.optional().openapi({
			description: "Compare-and-set: the key's current version; 0 means the key must not exist",
		}),
		expectedVersion: Version.optional(),
		pinned: z.boolean().optional().openapi({ description: "Always in the context window, verbatim" }),
	})
	.strict()
	.openapi("PutState");
export type PutStateBody = z.infer<typeof PutStateBody>;

export const DeleteStateQuery = z.object({
	ifVersion: z.coerce.number().int().max(Number.MAX_SAFE_INTEGER).min(1).optional().openapi({ type: "integer" }),
});

export const StateItem = z
	.object({
		ns: z.string(),
		key: z.string(),
		value: json().optional(),
		valueRef: ContentRef.optional(),
		version: Version.openapi({ description: "Session version of the key's last write; use as ifVersion" }),
		pinned: z.boolean(),
		updatedAt: Timestamp,
	})
	.openapi("StateItem");
export type StateItem = z.infer<typeof StateItem>;

export const StateWriteResult = z
	.object({
		ns: z.string(),
		key: z.string(),
		version: Version,
		sessionVersion: Version,
		deleted: z.boolean(),
	})
	.openapi("StateWriteResult");
export type StateWriteResult = z.infer<typeof StateWriteResult>;

export const ListStateQuery = z.object({
	after: StateName.optional().openapi({ description: "Return keys sorting after this one" }),
	limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: "integer" }),
	includeContent: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({
			description:
				"Inline values stored in R2. A page then ends early, with nextAfter set, once the inlined values pass 8 MiB " +
				"(at least one key is always returned).",
		}),
});
export type ListStateQuery = z.infer<typeof ListStateQuery>;

export const StatePage = z
	.object({
		items: z.array(StateItem),
		nextAfter: z.string().nullable(),
	})
	.openapi("StatePage");
export type StatePage = z.infer<typeof StatePage>;
