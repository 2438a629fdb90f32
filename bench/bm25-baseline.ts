/**
 * The reference point of bench/recall.ts: a plain BM25 over single turns, as the LoCoMo
 * README describes it (lowercased alphanumeric tokens, a short stop-word list, k1 = 1.2,
 * b = 0.75, one index per conversation), with no stemming and no context. In memory, in Node.
 */
const K1 = 1.2;
const B = 0.75;
const STOPWORDS = new Set("a an and are as at be by did do does for from has have how i in is it of on or that the their to was were what when where which who why will with you".split(" "));

function tokens(text: string): string[] {
	return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((token) => !STOPWORDS.has(token));
}

export function plainBm25(documents: Array<{ id: string; text: string }>) {
	const terms = documents.map((document) => tokens(document.text));
	const averageLength = terms.reduce((sum, list) => sum + list.length, 0) / (terms.length || 1);
	const frequencies = terms.map((list) => {
		const counts = new Map<string, number>();
		for (const term of list) counts.set(term, (counts.get(term) ?? 0) + 1);
		return counts;
	});
	const documentFrequency = new Map<string, number>();
	for (const counts of frequencies) for (const term of counts.keys()) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
	const idf = (term: string) => {
		const n = documentFrequency.get(term) ?? 0;
		return Math.log(1 + (documents.length - n + 0.5) / (n + 0.5));
	};
	return {
		/** The ids of the k best documents for the query, best first. */
		search(query: string, k: number): string[] {
			const queryTerms = [...new Set(tokens(query))];
			const scored = documents.map((document, index) => {
				const length = terms[index].length;
				let score = 0;
				for (const term of queryTerms) {
					const frequency = frequencies[index].get(term) ?? 0;
					if (frequency > 0) score += (idf(term) * frequency * (K1 + 1)) / (frequency + K1 * (1 - B + (B * length) / averageLength));
				}
				return { id: document.id, score };
			});
			return scored
				.filter((entry) => entry.score > 0)
				.sort((a, b) => b.score - a.score)
				.slice(0, k)
				.map((entry) => entry.id);
		},
	};
}
