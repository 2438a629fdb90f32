/**
 * Decides where a value lives. Values whose JSON is larger than the inline limit go to R2 and
 * the row keeps only a reference and a preview, so no row nears SQLite's 2 MB cap.
 */
import type { BlobStore, StoredBlob } from "../blobs/blob-store";

export const DEFAULT_INLINE_LIMIT_BYTES = 16 * 1024;
const PREVIEW_CHARS = 280;

export interface PlacedValue {
	/** JSON text kept in the row, or null when the value is in R2. */
	inline: string | null;
	blob: StoredBlob | null;
	preview: string | null;
	/** The text a tokenizer should count: the string itself, or the JSON of anything else. */
	text: string;
}

const encoder = new TextEncoder();

/** What a reader sees before fetching the full value: the text itself for strings. */
export function previewOf(value: unknown, json: string): string {
	const text = typeof value === "string" ? value : json;
	return text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS)}…`;
}

/**
 * Serializes a value and, when it is over the limit, writes it to R2 first: the row that
 * references it is committed only after this resolves.
 */
export async function placeValue(
	value: unknown,
	limitBytes: number,
	blobs: BlobStore,
	owner: { tenant: string; sessionId: string },
): Promise<PlacedValue> {
	const json = JSON.stringify(value);
	const text = typeof value === "string" ? value : json;
	if (encoder.encode(json).length <= limitBytes) return { inline: json, blob: null, preview: null, text };
	const blob = await blobs.put(owner.tenant, owner.sessionId, json);
	return { inline: null, blob, preview: previewOf(value, json), text };
}
