/**
 * Splits the `limit + 1` rows a page query fetched into the page and the cursor of the next
 * one: the extra row only tells that more exist.
 */
export function toPage<Row, Cursor>(rows: Row[], limit: number, cursorOf: (row: Row) => Cursor): { page: Row[]; next: Cursor | null } {
	const page = rows.slice(0, limit);
	return { page, next: rows.length > limit ? cursorOf(page[page.length - 1]) : null };
}
