/**
 * What a session contributes as a layer of another's window (a user's long-lived memory next
 * to the thread): its pinned items, then a digest of its state, then its summary, each
 * labelled with its source, within the budget its share gives. Unlike a window, a layer is
 * cut to its budget rather than refused: the thread must not fail because a layer grew.
 */
import { ok, type Result } from "../../errors";
import type { ContextItem } from "../../schemas/context";
import { latestVisibleCompaction } from "../compaction/store";
import { type EventRow, isStub, pinnedEvents, toEvent, windowTokens } from "../events/log";
import { visibleIntervals } from "../history/visibility";
import type { SessionContext } from "../kernel/session-context";
import { linksOf } from "../sessions/session-row";
import { digestLine, pinnedState, unpinnedStateCount, unpinnedStateNewestFirst } from "../state/state";
import { eventItem, loadArchived, stateItem } from "./window";

/** The digest takes at most this share of what the pinned items leave, so a summary still fits. */
const DIGEST_SHARE = 0.5;

export interface LayerSlice {
	sessionId: string;
	version: number;
	items: ContextItem[];
	used: number;
	omitted: number;
}

export function layerSlice(session: SessionContext, layer: string, budget: number): Promise<Result<LayerSlice>> {
	const scope = session.caller?.namespaces ?? null;
	return session.kernel.read(async (row) => {
		const source = { layer, sessionId: row.id };
		const intervals = visibleIntervals(session.sql, row.version);
		const items: ContextItem[] = [];
		let remaining = budget;
		let omitted = 0;
		const take = (item: ContextItem) => {
			if (item.tokens > remaining) {
				omitted++;
				return false;
			}
			items.push({ ...item, source });
			remaining -= item.tokens;
			return true;
		};

		for (const state of pinnedState(session.sql, undefined, scope)) take(stateItem(state));
		// Chosen by their stored token counts; retention may have moved an old one's content to R2, read back once chosen.
		const chosen = new Map<ContextItem, EventRow>();
		for (const event of pinnedEvents(session.sql, intervals)) {
			if (remaining <= 0) {
				omitted++;
				continue;
			}
			const item = eventItem("pinned_event", toEvent(event), windowTokens(event));
			if (take(item)) chosen.set(items[items.length - 1], event);
		}

		const lines: string[] = [];
		let digestTokens = 0;
		const digestCap = Math.floor(remaining * DIGEST_SHARE);
		for (const state of unpinnedStateNewestFirst(session.sql, undefined, scope)) {
			const cost = state.tokens + (lines.length > 0 ? 1 : 0);
			if (digestTokens + cost > digestCap) {
				omitted += unpinnedStateCount(session.sql, undefined, scope) - lines.length;
				break;
			}
			lines.push(digestLine(state.ns, state.key, state.value ?? state.preview ?? ""));
			digestTokens += cost;
		}
		if (lines.length > 0) take({ kind: "state_digest", tokens: digestTokens, content: lines.join("\n") });

		const summary = latestVisibleCompaction(session.sql, intervals);
		if (summary) take({ kind: "summary", content: summary.summary, tokens: summary.summary_tokens, throughSeq: summary.to_seq });

		const stubs = [...chosen.values()].filter(isStub);
		if (stubs.length > 0) {
			const archived = await loadArchived(session.sql, session.dependencies.blobs, stubs);
			for (const [index, item] of items.entries()) {
				const event = chosen.get(item);
				const view = event && archived.get(event.seq);
				if (view) items[index] = { ...eventItem("pinned_event", view, item.tokens), source };
			}
		}
		return ok({ sessionId: row.id, version: row.version, items, used: budget - remaining, omitted });
	});
}

/** The sessions this one links as layers, for a layered window (operations/layers.ts). */
export function layerLinks(session: SessionContext): Promise<Result<Record<string, string>>> {
	return session.kernel.read((row) => ok(linksOf(row)));
}
