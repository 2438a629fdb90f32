/**
 * Token counts with the o200k_base encoding (GPT-4o family), computed once at write time. The
 * encoder's tables cost tens of MB and a few hundred ms to load, so they load on first use,
 * never at Worker start-up.
 */
type Counter = (text: string) => number;
let loading: Promise<Counter> | null = null;

function loadCounter(): Promise<Counter> {
	loading ??= import("gpt-tokenizer/encoding/o200k_base").then(
		(module) => module.countTokens,
		(error: unknown) => {
			loading = null;
			throw error;
		},
	);
	return loading;
}

export async function countTokens(text: string): Promise<number> {
	if (text.length === 0) return 0;
	const count = await loadCounter();
	return count(text);
}
