/**
 * Decides where a value lives. Values whose JSON is larger than the inline limit go to R2 and
 * the row keeps only a reference and a preview, so no row nears SQLite's 2 MB cap.
 */
import type { StoredBlob } from "../../blobs/blob-store";

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
	store: { putContent(text: string): Promise<StoredBlob> },
): Promise<PlacedValue> {
	const json = JSON.stringify(value);
	const text = typeof value === "string" ? value : json;
	if (encoder.encode(json).length <= limitBytes) return { inline: json, blob: null, preview: null, text };
	const blob = await store.putContent(json);
	return { inline: null, blob, preview: previewOf(value, json), text };
}

/** The deployment's inline limit from its environment, read once per object. */
export function configuredInlineLimit(value: string | undefined): number {
	const parsed = Number.parseInt(value ?? "", 10);
	return Number.isFinite(parsed) && parsed > 0 ? parsed : DEFAULT_INLINE_LIMIT_BYTES;
}

/**
 * Runs `work` over the items with at most `limit` in flight, keeping their order. After a
 * failure no new item starts, and the first error is thrown only once those in flight have
 * settled: a caller cleaning up after it sees every upload that happened.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
	const results = new Array<R>(items.length);
	let next = 0;
	let failed = false;
	const worker = async () => {
		while (next < items.length && !failed) {
			const index = next++;
			try {
				results[index] = await work(items[index]);
			} catch (error) {
				failed = true;
				throw error;
			}
		}
	};
	const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
	const rejected = settled.find((outcome) => outcome.status === "rejected");
	if (rejected) throw rejected.reason;
	return results;
}
