/**
 * What a session contributes as a layer of another's window (a user's long-lived memory next
 * to the thread): its pinned items, then a digest of its state, then its summary, each
 * labelled with its source, within the budget its share gives. Unlike a window, a layer is
 * cut to its budget rather than refused: the thread must not fail because a layer grew.
 */
import { ok, type Result } from "../../errors";
import type { ContextItem } from "../../schemas/context";
import { latestVisibleCompaction } from "../compaction/store";
import { type EventRow, isStub, pinnedEventCountUpTo, pinnedEventsOldestFirst, toEvent, windowTokens } from "../events/log";
import { visibleIntervals } from "../history/visibility";
import type { SessionContext } from "../kernel/session-context";
import { linksOf } from "../sessions/session-row";
import { digestLine, pinnedStateNewestFirst, stateCountUpTo, unpinnedStateNewestFirst } from "../state/state";
import { eventItem, loadArchived, stateItem } from "./window";

/** The digest takes at most this share of what the pinned items leave, so a summary still fits. */
const DIGEST_SHARE = 0.5;
/** Pinned items too large for what is left that a layer passes over before it stops looking. */
const MAX_PASSED_OVER = 8;
/** What a layer leaves out is counted up to this many items past what it took: counting reads rows too. */
const OMITTED_COUNT_LIMIT = 100;

export interface LayerSlice {
	sessionId: string;
	version: number;
	items: ContextItem[];
	used: number;
	omitted: number;
}

export function layerSlice(session: SessionContext, layer: string, budget: number): Promise<Result<LayerSlice>> {
	const scope = session.caller?.namespaces ?? null;
	const sql = session.sql;
	return session.kernel.read(async (row) => {
		const source = { layer, sessionId: row.id };
		const intervals = visibleIntervals(sql, row.version);
		const items: ContextItem[] = [];
		let remaining = budget;
		let omitted = 0;
		const take = (item: ContextItem) => {
			if (item.tokens > remaining) return false;
			items.push({ ...item, source });
			remaining -= item.tokens;
			return true;
		};
		// Pinned rows come through cursors that stop at the layer's share, so a window's cost
		// follows its budget, not how much a linked session has pinned. Returns how many it took
		// when it stopped before the end (the caller counts what it left), or null when the rows
		// ran out (what it passed over is already in `omitted`).
		const pull = <Row>(rows: Iterable<Row>, toItem: (row: Row) => ContextItem, taken: (row: Row) => void): number | null => {
			let count = 0;
			let passedOver = 0;
			for (const row of rows) {
				if (remaining <= 0 || passedOver >= MAX_PASSED_OVER) return count;
				if (take(toItem(row))) {
					count++;
					taken(row);
				} else passedOver++;
			}
			omitted += passedOver;
			return null;
		};

		const statesTaken = pull(pinnedStateNewestFirst(sql, undefined, scope), stateItem, () => {});
		if (statesTaken !== null) omitted += stateCountUpTo(sql, true, scope, statesTaken + OMITTED_COUNT_LIMIT) - statesTaken;
		// Chosen by their stored token counts; retention may have moved an old one's content to R2, read back once chosen.
		const chosen = new Map<ContextItem, EventRow>();
		const eventsTaken = pull(
			pinnedEventsOldestFirst(sql, intervals),
			(event) => eventItem("pinned_event", toEvent(event), windowTokens(event)),
			(event) => chosen.set(items[items.length - 1], event),
		);
		if (eventsTaken !== null) omitted += pinnedEventCountUpTo(sql, intervals, eventsTaken + OMITTED_COUNT_LIMIT) - eventsTaken;

		const lines: string[] = [];
		let digestTokens = 0;
		const digestCap = Math.floor(remaining * DIGEST_SHARE);
		for (const state of unpinnedStateNewestFirst(sql, undefined, scope)) {
			const cost = state.tokens + (lines.length > 0 ? 1 : 0);
			if (digestTokens + cost > digestCap) {
				omitted += stateCountUpTo(sql, false, scope, lines.length + OMITTED_COUNT_LIMIT) - lines.length;
				break;
			}
			lines.push(digestLine(state.ns, state.key, state.value ?? state.preview ?? ""));
			digestTokens += cost;
		}
		if (lines.length > 0 && !take({ kind: "state_digest", tokens: digestTokens, content: lines.join("\n") })) omitted++;

		const summary = latestVisibleCompaction(sql, intervals);
		if (summary && !take({ kind: "summary", content: summary.summary, tokens: summary.summary_tokens, throughSeq: summary.to_seq })) omitted++;

		const stubs = [...chosen.values()].filter(isStub);
		if (stubs.length > 0) {
			const archived = await loadArchived(sql, session.dependencies.blobs, stubs);
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
