/**
 * Assembles a context window from its sources; pure, so the current window and one rebuilt
 * for an earlier version (`at=V`) are made by the same code from the same kinds of input.
 *
 * Priority, within the budget: pinned items (all of them, or a 422), items of linked layers
 * (sized beforehand to their share), the work in progress
 * (open workflows, pending approvals, recent failures: at most WORK_STATUS_SHARE of the
 * budget), a digest of the live state (at most a quarter), the latest compaction summary,
 * then the newest events. Events are taken newest first and the scan stops at the first that does not fit,
 * so the window is a contiguous recent tail and the work done is bounded by the budget.
 */
import { type Failure, fail, ok, type Result } from "../../errors";
import type { ContextItem, Omission } from "../../schemas/context";

const DIGEST_SHARE = 0.25;
export const WORK_STATUS_SHARE = 0.15;

export interface DigestLine {
	text: string;
	tokens: number;
}

export interface WindowSources {
	pinned: ContextItem[];
	/** Items of linked layers (layer.ts), each sized to its share: after the pinned items, cut only if those leave too little. */
	layers?: ContextItem[];
	/** Lines of the work-in-progress block (work-status.ts), cut to fit its share. */
	workStatus: (maxTokens: number) => ContextItem | null;
	/** Unpinned state lines, newest first; pulled lazily, only as far as the digest's share reaches. */
	digest: Iterable<DigestLine>;
	/** How many lines `digest` holds in all, to report what was left out without reading it. */
	digestLines: number;
	summary: ContextItem | null;
	/** Events newest first; pulled lazily, only as far as the budget reaches. */
	events: Iterable<ContextItem>;
	/** Events the visible compactions moved out of the window. */
	compactedEvents: number;
}

export interface AssembledWindow {
	items: ContextItem[];
	used: number;
	omitted: Omission[];
}

export function assembleWindow(budget: number, sources: WindowSources): Result<AssembledWindow> | Failure {
	const pinnedTokens = sources.pinned.reduce((sum, item) => sum + item.tokens, 0);
	if (pinnedTokens > budget) {
		return fail("budget_too_small", `Pinned items need ${pinnedTokens} tokens; the budget is ${budget}`, {
			budget,
			pinnedTokens,
		});
	}
	let remaining = budget - pinnedTokens;
	const omitted: Omission[] = [];

	const layers: ContextItem[] = [];
	for (const item of sources.layers ?? []) {
		if (item.tokens > remaining) {
			omitted.push({ kind: "layer", reason: "budget", count: 1 });
			continue;
		}
		layers.push(item);
		remaining -= item.tokens;
	}

	const workStatus = sources.workStatus(Math.min(remaining, Math.floor(budget * WORK_STATUS_SHARE)));
	if (workStatus) remaining -= workStatus.tokens;

	const digest: DigestLine[] = [];
	let digestTokens = 0;
	const digestCap = Math.min(remaining, Math.floor(budget * DIGEST_SHARE));
	for (const line of sources.digest) {
		// One token for the newline that joins a line to the previous one.
		const cost = line.tokens + (digest.length > 0 ? 1 : 0);
		if (digestTokens + cost > digestCap) break;
		digest.push(line);
		digestTokens += cost;
	}
	if (digest.length < sources.digestLines) omitted.push({ kind: "state", reason: "budget", count: sources.digestLines - digest.length });
	remaining -= digestTokens;

	let summary: ContextItem | null = null;
	if (sources.summary) {
		if (sources.summary.tokens <= remaining) {
			summary = sources.summary;
			remaining -= summary.tokens;
		} else {
			omitted.push({ kind: "summary", reason: "budget" });
		}
	}

	const events: ContextItem[] = [];
	for (const event of sources.events) {
		if (event.tokens > remaining) {
			omitted.push({ kind: "event", reason: "budget", beforeSeq: (event.seq ?? 0) + 1 });
			break;
		}
		events.push(event);
		remaining -= event.tokens;
	}
	if (sources.compactedEvents > 0) omitted.push({ kind: "event", reason: "compacted", count: sources.compactedEvents });

	const items: ContextItem[] = [...sources.pinned, ...layers];
	if (workStatus) items.push(workStatus);
	if (digest.length > 0) {
		items.push({ kind: "state_digest", tokens: digestTokens, content: digest.map((line) => line.text).join("\n") });
	}
	if (summary) items.push(summary);
	items.push(...events.reverse());
	return ok({ items, used: budget - remaining, omitted });
}
