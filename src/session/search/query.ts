/**
 * Turns what a caller typed into an FTS5 MATCH expression. User input is never FTS5 syntax:
 * it is cut into words, common English words are dropped, and each remaining word becomes a
 * quoted term, the terms joined by OR, so BM25 ranks by how many (and how rare) words match.
 * Quotes, parentheses, `*`, `NEAR`, `AND` and column filters are only words or nothing, so no
 * query can be an FTS5 syntax error.
 */

/** Terms one query uses at most: more only slow the search down. */
export const MAX_TERMS = 32;

/** Words that match nearly everything in English text and rank nothing. */
const STOPWORDS = new Set(
	(
		"a about after again all am an and any are as at be because been before being between both but by can could did do does " +
		"doing down during each few for from further had has have having he her here hers herself him himself his how i if in into " +
		"is it its itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own " +
		"same she should so some such than that the their theirs them themselves then there these they this those through to too " +
		"under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves"
	).split(" "),
);

/** The MATCH expression for the text, or null when it holds no word to search for. */
export function matchExpression(text: string): string | null {
	const words = [...new Set(text.toLowerCase().match(/[\p{L}\p{M}\p{N}]+/gu) ?? [])];
	const meaningful = words.filter((word) => !STOPWORDS.has(word));
	// A query of stopwords alone ("who was it") still means something: search them.
	const terms = (meaningful.length > 0 ? meaningful : words).slice(0, MAX_TERMS);
	if (terms.length === 0) return null;
	// Words hold letters and digits only, so quoting cannot be escaped.
	return terms.map((term) => `"${term}"`).join(" OR ");
}
