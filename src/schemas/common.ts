import { z } from "@hono/zod-openapi";

/** Session ids are chosen by clients (e.g. `user:42`) so they are bounded and URL-safe. */
export const SessionId = z
	.string()
	.min(1)
	.max(128)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "use letters, digits and . _ : - (starting with a letter or digit)")
	.openapi({ example: "user:42" });

export const TenantId = z
	.string()
	.min(1)
	.max(63)
	.regex(/^[a-z0-9][a-z0-9_-]*$/, "use lowercase letters, digits, _ and -")
	.openapi({ example: "acme" });

/** State namespaces and keys travel in the path, so they share the session id's alphabet. */
export const StateName = z
	.string()
	.min(1)
	.max(128)
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "use letters, digits and . _ : - (starting with a letter or digit)");

/**
 * What a JSON field holds, as TypeScript sees it. Values of these fields always come from
 * parsed JSON (a request body or a stored row); `{} | null` says "present, any JSON" in a way
 * Durable Object RPC types accept as serializable, where `unknown` makes a whole result
 * untyped on the Worker's side of the stub.
 */
export type Json = {} | null;

/** A schema for a JSON field: validates like z.unknown(), typed as Json. */
export function json(): z.ZodType<Json> {
	return z.unknown() as z.ZodType<Json>;
}

/** Any JSON value (object, array, string, number, boolean or null), but present. */
export const JsonValue = json()
	.refine((value) => value !== undefined, "Required")
	.openapi({ description: "Any JSON value" });

const METADATA_MAX_BYTES = 8 * 1024;
/** Free-form metadata stays inline in the row, so it is bounded (8 KiB of JSON). */
export const Metadata = z
	.record(z.string(), json())
	.refine((value) => new TextEncoder().encode(JSON.stringify(value)).length <= METADATA_MAX_BYTES, {
		message: `metadata must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
	})
	.openapi({ description: "Free-form JSON object, at most 8 KiB", example: { source: "cli" } });

export const Version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const Timestamp = z.string().openapi({ description: "ISO 8601 time", example: "2026-11-22T10:00:00.000Z" });

/** A large value kept in R2: the full content is fetched separately. */
export const ContentRef = z
	.object({
		sha256: z.string(),
		bytes: z.number().int().max(Number.MAX_SAFE_INTEGER),
		preview: z.string(),
	})
	.openapi("ContentRef");

export const SessionParams = z.object({ id: SessionId.openapi({ param: { name: "id", in: "path" } }) });

/**
 * Headers every write accepts: retry safety, optimistic concurrency on the session version and
 * the fencing token of a writer lease.
 */
export const WriteHeaders = z.object({
	"idempotency-key": z
		.string()
		.min(1)
		.max(255)
		.regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
		.optional()
		.openapi({ description: "A retry with the same key returns the first response and writes nothing" }),
	"idempotency-retention": z
		.enum(["24h", "session"])
		.optional()
		.openapi({ description: "How long the Idempotency-Key is remembered: 24h (default), or as long as the session lives, for operation ids a framework may retry at any time" }),
	"if-match": z
		.string()
		.regex(/^(W\/)?"?\d{1,15}"?$/, 'a session version, e.g. "7"')
		.optional()
		.openapi({ description: "Expected session version; a stale one gets 409 version_conflict" }),
	"lease-token": z
		.string()
		.regex(/^\d{1,15}$/, "a fencing token, e.g. 3")
		.optional()
		.openapi({ description: "Fencing token of the writer lease, required while a lease is held" }),
});
export type WriteHeaders = z.infer<typeof WriteHeaders>;

/** The headers of a write that takes no version or lease guard: its key, and how long it is kept. */
export const KeyHeaders = WriteHeaders.pick({ "idempotency-key": true, "idempotency-retention": true });

/** The pattern of a comma-separated list whose items match `item` (an anchored-free regex source). */
export function csvPattern(item: string): string {
	return `^(${item})(,(${item}))*$`;
}

/** A comma-separated list in a query string, each item validated by `item`. */
export function csv<T extends z.ZodType<unknown, string>>(item: T) {
	return z
		.string()
		.transform((value) => value.split(",").filter(Boolean))
		.pipe(z.array(item));
}
