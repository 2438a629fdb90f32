/**
 * Large content kept in R2, read back for the principal's tenant and one session: the key is
 * built from the principal's tenant, so no other tenant's object can be addressed.
 */
import type { Principal } from "../app-env";
import { BlobStore, BlobStoreUnavailable } from "../blobs/blob-store";
import { fail, ok, type Result } from "../errors";
import type { Json } from "../schemas/common";
import type { EventPage } from "../schemas/events";
import type { StatePage } from "../schemas/state";
import { mapBounded } from "../session/content/placement";

/** Blobs read at once when a page's content is expanded. */
const PARALLEL_READS = 8;
/** Content one expanded page inlines at most: the rest of the page is left to the next one. */
export const MAX_EXPANDED_BYTES = 8 * 1024 * 1024;

/** The parsed JSON of one blob of the session. */
export async function readContent(env: Env, principal: Principal, sessionId: string, sha256: string): Promise<Result<Json>> {
	let text: string | null;
	try {
		text = await new BlobStore(env.BLOBS).get(principal.tenant, sessionId, sha256);
	} catch (error) {
		if (error instanceof BlobStoreUnavailable) return fail("dependency_unavailable", "R2 is unavailable; retry");
		throw error;
	}
	if (text === null) return fail("not_found", "No such content in this session", { sha256 });
	return ok(JSON.parse(text) as Json);
}

/**
 * A page of events with the content behind each contentRef inlined. The page is cut after
 * MAX_EXPANDED_BYTES of content (keeping at least one event), its cursor moved to match.
 */
export async function expandEventPage(env: Env, principal: Principal, sessionId: string, page: EventPage): Promise<Result<EventPage>> {
	const kept = page.events.slice(0, withinBytes(page.events, (event) => event.contentRef?.bytes ?? 0));
	const expanded = await expand(kept, (event) => event.contentRef?.sha256, (event, content) => ({ ...event, content }), env, principal, sessionId);
	if (!expanded.ok) return expanded;
	const cut = kept.length < page.events.length;
	return ok({ events: expanded.value, nextAfter: cut ? (kept.at(-1)?.seq ?? page.nextAfter) : page.nextAfter });
}

/** A page of state keys with the value behind each valueRef inlined, cut like expandEventPage. */
export async function expandStatePage(env: Env, principal: Principal, sessionId: string, page: StatePage): Promise<Result<StatePage>> {
	const kept = page.items.slice(0, withinBytes(page.items, (item) => item.valueRef?.bytes ?? 0));
	const expanded = await expand(kept, (item) => item.valueRef?.sha256, (item, value) => ({ ...item, value }), env, principal, sessionId);
	if (!expanded.ok) return expanded;
	const cut = kept.length < page.items.length;
	return ok({ items: expanded.value, nextAfter: cut ? (kept.at(-1)?.key ?? page.nextAfter) : page.nextAfter });
}

/** How many of the items fit in MAX_EXPANDED_BYTES of inlined content; at least one. */
function withinBytes<T>(items: T[], bytesOf: (item: T) => number): number {
	let total = 0;
	for (const [index, item] of items.entries()) {
		total += bytesOf(item);
		if (total > MAX_EXPANDED_BYTES) return Math.max(1, index);
	}
	return items.length;
}

async function expand<T>(
	items: T[],
	refOf: (item: T) => string | undefined,
	inline: (item: T, content: Json) => T,
	env: Env,
	principal: Principal,
	sessionId: string,
): Promise<Result<T[]>> {
	const read = await mapBounded(items, PARALLEL_READS, async (item) => {
		const sha256 = refOf(item);
		return sha256 === undefined ? ok(undefined) : readContent(env, principal, sessionId, sha256);
	});
	const failed = read.find((result) => !result.ok);
	if (failed && !failed.ok) return failed;
	return ok(items.map((item, index) => (refOf(item) === undefined ? item : inline(item, (read[index] as { value: Json }).value))));
}
