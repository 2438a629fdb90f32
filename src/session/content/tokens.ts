/**
 * Token counts, computed once at write time (or in the alarm for summaries), never on the
 * read path. The encoders' tables cost tens of MB and a few hundred ms to load, so each loads
 * on first use in an isolate, never at Worker start-up.
 */
export type Encoding = "o200k_base" | "cl100k_base";
export const DEFAULT_ENCODING: Encoding = "o200k_base";

type Counter = (text: string) => number;
const loading = new Map<Encoding, Promise<Counter>>();

function load(encoding: Encoding): Promise<Counter> {
	const imported =
		encoding === "cl100k_base" ? import("gpt-tokenizer/encoding/cl100k_base") : import("gpt-tokenizer/encoding/o200k_base");
	return imported.then(
		(module) => module.countTokens,
		(error: unknown) => {
			loading.delete(encoding);
			throw error;
		},
	);
}

/** Counts the tokens of `text` with the session's encoding (o200k_base: GPT-4o family). */
export async function countTokens(text: string, encoding: Encoding = DEFAULT_ENCODING): Promise<number> {
	if (text.length === 0) return 0;
	let counter = loading.get(encoding);
	if (!counter) {
		counter = load(encoding);
		loading.set(encoding, counter);
	}
	return (await counter)(text);
}
