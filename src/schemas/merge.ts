import { z } from "@hono/zod-openapi";
import { ContentRef, JsonValue, SessionId, StateName, Version, json } from "./common";

/** At most this many explicit resolutions per merge request. */
export const MAX_RESOLUTIONS = 1000;

export const MergeStrategy = z.enum(["report", "ours", "theirs"]).openapi({
	description:
		"What to do with keys both sides changed differently: `report` (default) changes nothing and answers 409 merge_conflict " +
		"listing them; `ours` keeps this session's value; `theirs` takes the fork's. Explicit resolutions win over any strategy.",
});

export const MergeResolution = z
	.object({
		ns: StateName,
		key: StateName,
		value: JsonValue.optional().openapi({ description: "The value the key gets" }),
		deleted: z.literal(true).optional().openapi({ description: "Resolve by deleting the key (instead of a value)" }),
		pinned: z.boolean().optional().openapi({ description: "Default: as the key is pinned now, else as in the fork" }),
	})
	.strict()
	.refine((resolution) => (resolution.value !== undefined) !== (resolution.deleted === true), "give either a value or deleted: true")
	.openapi("MergeResolution");
export type MergeResolution = z.infer<typeof MergeResolution>;

export const MergeBody = z
	.object({
		from: SessionId.openapi({ description: "The fork to merge: a session forked from this one" }),
		strategy: MergeStrategy.default("report"),
		resolutions: z
			.array(MergeResolution)
			.max(MAX_RESOLUTIONS)
			.refine((resolutions) => new Set(resolutions.map(({ ns, key }) => `${ns}/${key}`)).size === resolutions.length, "one resolution per key")
			.optional()
			.openapi({
				description:
					"A judge's decision per key, applied whether or not the key is still in conflict. Only keys the fork changed " +
					"since the fork point (or since its last merge) may be named; any other is 422 resolution_not_in_merge.",
			}),
		expectedVersion: Version.optional(),
	})
	.strict()
	.openapi("Merge");
export type MergeBody = z.infer<typeof MergeBody>;

/** One side of a key in a conflict: its value, its R2 reference when large, or null when the key does not exist there. */
export const MergeSide = z
	.object({ value: json().optional(), valueRef: ContentRef.optional() })
	.nullable()
	.openapi("MergeSide");
export type MergeSide = z.infer<typeof MergeSide>;

export const MergeConflict = z
	.object({
		ns: z.string(),
		key: z.string(),
		base: MergeSide.openapi({ description: "At the fork point (or the last merge of this fork)" }),
		ours: MergeSide.openapi({ description: "In this session now" }),
		theirs: MergeSide.openapi({ description: "In the fork now" }),
	})
	.openapi("MergeConflict");
export type MergeConflict = z.infer<typeof MergeConflict>;

export const MergeResult = z
	.object({
		version: Version.openapi({ description: "This session's version after the merge (unchanged when nothing here changed)" }),
		from: z.string(),
		changed: z.boolean().openapi({
			description: "false when nothing here changed: the fork had nothing new (a repeated merge), or this session already held it",
		}),
		forkVersion: Version.openapi({ description: "The fork's version merged through; the next merge starts from here" }),
		events: z
			.object({
				count: z.number().int().max(Number.MAX_SAFE_INTEGER),
				firstSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable(),
				lastSeq: z.number().int().max(Number.MAX_SAFE_INTEGER).nullable(),
			})
			.openapi({ description: "The fork's new events, appended here as one block (metadata.mergedFrom, metadata.mergedSeq)" }),
		keys: z
			.array(
				z.object({
					ns: z.string(),
					key: z.string(),
					outcome: z.enum(["theirs", "ours", "resolution", "same"]),
					deleted: z.boolean(),
				}),
			)
			.openapi({
				description:
					"Each key the fork changed: `theirs` taken, `ours` kept (a conflict under strategy ours), `resolution` applied, " +
					"or `same` (this session already had it). `deleted`: the key does not exist after the merge.",
			}),
	})
	.openapi("MergeResult");
export type MergeResult = z.infer<typeof MergeResult>;
