/**
 * Large content kept in R2, read back for the principal's tenant and one session: the key is
 * built from the principal's tenant, so no other tenant's object can be addressed.
 */
import type { Principal } from "../app-env";
import { BlobStore, BlobStoreUnavailable } from "../blobs/blob-store";
import { fail, ok, type Result } from "../errors";
import type { Json } from "../schemas/common";
import type { Event } from "../schemas/events";
import type { StateItem } from "../schemas/state";
import { mapBounded } from "../session/content/placement";

/** Blobs read at once when a page's content is expanded. */
const PARALLEL_READS = 8;

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

/** The events with the content behind each contentRef inlined. */
export async function expandEvents(env: Env, principal: Principal, sessionId: string, events: Event[]): Promise<Result<Event[]>> {
	return expand(events, (event) => event.contentRef?.sha256, (event, content) => ({ ...event, content }), env, principal, sessionId);
}

/** The state items with the value behind each valueRef inlined. */
export async function expandStateItems(env: Env, principal: Principal, sessionId: string, items: StateItem[]): Promise<Result<StateItem[]>> {
	return expand(items, (item) => item.valueRef?.sha256, (item, value) => ({ ...item, value }), env, principal, sessionId);
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
