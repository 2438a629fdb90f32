/**
 * Compaction planning: which events leave the window and what summary replaces them. Pure
 * and deterministic (no clock, no network), so re-running a compaction after a crash plans
 * the same thing, and tests can check the plan directly.
 *
 * Invariants: pinned events, events of the policy's keep types and the newest
 * `keepRecentEvents` are never compacted; a plan that would archive nothing is no plan, so
 * every compaction makes progress and a re-run alarm finds nothing left to do.
 */
import type { EventType } from "../../schemas/events";
import type { SessionPolicy } from "../../schemas/sessions";
import type { EventRow } from "../events/log";

export interface CompactionPolicy {
	modelWindowTokens: number;
	compactAtShare: number;
	compactAfterSeconds: number | null;
	milestoneTypes: EventType[];
	keepRecentEvents: number;
	keepTypes: EventType[];
}

export function resolvePolicy(policy: SessionPolicy): CompactionPolicy {
	return {
		modelWindowTokens: policy.modelWindowTokens ?? 128_000,
		compactAtShare: policy.compactAtShare ?? 0.6,
		compactAfterSeconds: policy.compactAfterSeconds ?? null,
		milestoneTypes: policy.milestoneTypes ?? [],
		keepRecentEvents: policy.keepRecentEvents ?? 20,
		keepTypes: policy.keepTypes ?? ["decision", "error"],
	};
}

/** What the session knows about the size of its current context. */
export interface ContextSize {
	/** Window tokens of the hot, visible events (maintained at write time). */
	contextTokens: number;
	summaryTokens: number;
	/** The provider's input count of the latest call reporting one since the last compaction. */
	reportedInputTokens: number | null;
	/** contextTokens when that report was appended. */
	reportedAtContext: number | null;
}

/**
 * The context's size in tokens. A count the provider reported beats our estimate (which misses
 * system prompts and tool schemas, and tokenizes differently); what was appended since the
 * report is added on top.
 */
export function estimateContextTokens(size: ContextSize): number {
	const estimate = size.contextTokens + size.summaryTokens;
	if (size.reportedInputTokens === null || size.reportedAtContext === null) return estimate;
	return Math.max(estimate, size.reportedInputTokens + (size.contextTokens - size.reportedAtContext));
}

export function overTokenShare(size: ContextSize, policy: CompactionPolicy): boolean {
	return estimateContextTokens(size) >= policy.compactAtShare * policy.modelWindowTokens;
}

export interface SummaryData {
	goal: string[];
	discovered: string[];
	facts: string[];
	decisions: string[];
	errors: string[];
	state: string[];
	open: string[];
	/** Summaries agents wrote themselves, oldest first. */
	agent: string[];
}

const SECTION_CAPS: Record<Exclude<keyof SummaryData, "agent" | "state">, number> = {
	goal: 3,
	discovered: 40,
	facts: 40,
	decisions: 40,
	errors: 20,
	open: 20,
};
const LINE_CHARS = 200;

export interface CompactionInput {
	/** Hot, visible events eligible by seq (oldest first). */
	events: EventRow[];
	policy: CompactionPolicy;
	lastSeq: number;
	upToSeq?: number;
	previous: SummaryData | null;
	agentSummary?: string;
}

export interface CompactionPlan {
	archive: EventRow[];
	data: SummaryData;
	text: string;
	fromSeq: number;
	toSeq: number;
	agentSummary?: string;
}

/** Decides what to archive and writes the summary; null when there is nothing to compact. */
export function planCompaction(input: CompactionInput): CompactionPlan | null {
	const limit = Math.min(input.upToSeq ?? Number.POSITIVE_INFINITY, input.lastSeq - input.policy.keepRecentEvents);
	const keep = new Set(input.policy.keepTypes);
	const archive = input.events.filter((event) => event.seq <= limit && event.pinned === 0 && !keep.has(event.type));
	if (archive.length === 0) return null;
	const fromSeq = archive[0].seq;
	const toSeq = archive[archive.length - 1].seq;
	const folded = input.events.filter((event) => event.seq <= toSeq);
	const data = input.agentSummary
		? { ...emptySummary(), ...carryOver(input.previous), agent: [...(input.previous?.agent ?? []), input.agentSummary] }
		: summarize(folded, input.previous);
	return { archive, data, text: render(data, toSeq, archive.length, input.agentSummary), fromSeq, toSeq, agentSummary: input.agentSummary };
}

/**
 * The same plan with every list section cut to its newest `factor` share (at least one
 * entry), for when the summary would not be much smaller than what it replaces.
 */
export function shrinkPlan(plan: CompactionPlan, factor: number): CompactionPlan {
	const cut = (entries: string[]) => entries.slice(-Math.max(1, Math.ceil(entries.length * factor)));
	const data: SummaryData = {
		goal: plan.data.goal,
		discovered: cut(plan.data.discovered),
		facts: cut(plan.data.facts),
		decisions: cut(plan.data.decisions),
		errors: cut(plan.data.errors),
		state: cut(plan.data.state),
		open: cut(plan.data.open),
		agent: plan.data.agent,
	};
	return { ...plan, data, text: render(data, plan.toSeq, plan.archive.length, plan.agentSummary) };
}

function emptySummary(): SummaryData {
	return { goal: [], discovered: [], facts: [], decisions: [], errors: [], state: [], open: [], agent: [] };
}

/** An agent's summary replaces the deterministic sections but keeps the goal and decisions. */
function carryOver(previous: SummaryData | null): Partial<SummaryData> {
	return previous ? { goal: previous.goal, decisions: previous.decisions } : {};
}

function line(text: string): string {
	const flat = text.replace(/\s+/g, " ").trim();
	return flat.length <= LINE_CHARS ? flat : `${flat.slice(0, LINE_CHARS)}…`;
}

function textOf(event: EventRow): string {
	if (event.content === null) return event.preview ?? "";
	const value: unknown = JSON.parse(event.content);
	return typeof value === "string" ? value : event.content;
}

/** Appends new entries after old ones, drops repeats, keeps the newest `cap`. */
function merge(old: string[], added: string[], cap: number): string[] {
	const seen = new Set<string>();
	const merged: string[] = [];
	for (const entry of [...old, ...added].reverse()) {
		if (seen.has(entry)) continue;
		seen.add(entry);
		merged.push(entry);
	}
	return merged.slice(0, cap).reverse();
}

const FACT_PATTERN = /(?:https?:\/\/[^\s"'<>]+|(?:[\w.-]+\/)*[\w-]+\.[A-Za-z][\w]{0,7}(?::\d+)?)/g;

function summarize(events: EventRow[], previous: SummaryData | null): SummaryData {
	const goal: string[] = [];
	const discovered = new Map<string, string>();
	const facts: string[] = [];
	const decisions: string[] = [];
	const errors: string[] = [];
	const open: string[] = [];
	const callArguments = new Map<string, string>();

	for (const [index, event] of events.entries()) {
		const text = textOf(event);
		const metadata = event.metadata ? (JSON.parse(event.metadata) as Record<string, unknown>) : {};
		switch (event.type) {
			case "message":
				if (event.role === "user" && goal.length === 0 && !previous?.goal.length) goal.push(line(text));
				break;
			case "tool_call":
				if (event.tool_call_id) callArguments.set(event.tool_call_id, text);
				for (const match of text.match(FACT_PATTERN) ?? []) facts.push(match);
				break;
			case "tool_result": {
				// A later result of the same tool on the same arguments supersedes an earlier one.
				const call = event.tool_call_id ? (callArguments.get(event.tool_call_id) ?? "") : "";
				const key = `${event.name ?? "tool"}\u0000${call || String(event.seq)}`;
				discovered.delete(key);
				discovered.set(key, line(`${event.name ?? "tool"} → ${text}`));
				break;
			}
			case "note":
				discovered.set(`note\u0000${event.seq}`, line(text));
				break;
			case "decision":
				decisions.push(line(text));
				break;
			case "error": {
				const next = events[index + 1];
				errors.push(line(next ? `${text} → then: ${textOf(next)}` : text));
				break;
			}
		}
		if (metadata.open === true || /^\s*(TODO|Open:)/i.test(text)) open.push(line(text));
	}

	const base = previous ?? emptySummary();
	return {
		goal: merge(base.goal, goal, SECTION_CAPS.goal),
		discovered: merge(base.discovered, [...discovered.values()], SECTION_CAPS.discovered),
		facts: merge(base.facts, facts, SECTION_CAPS.facts),
		decisions: merge(base.decisions, decisions, SECTION_CAPS.decisions),
		errors: merge(base.errors, errors, SECTION_CAPS.errors),
		// State is not copied into summaries: the window's digest serves it, filtered by the
		// reader's namespaces, where a summary is one text every reader sees.
		state: [],
		open: merge(base.open, open, SECTION_CAPS.open),
		agent: base.agent,
	};
}

function section(title: string, entries: string[]): string {
	return entries.length ? `### ${title}\n${entries.map((entry) => `- ${entry}`).join("\n")}\n` : "";
}

function render(data: SummaryData, toSeq: number, archived: number, agentSummary?: string): string {
	const header = `## Session summary (through event #${toSeq})\n${archived} events compacted; the originals are archived and readable with includeArchived=true.\n`;
	if (agentSummary) {
		return [header, agentSummary.trim(), "", section("Current state", data.state)].join("\n").trim();
	}
	return [header, renderSections(data)].join("\n").trim();
}

/** A deterministic summary of `events` on top of an earlier one, without a compaction's header (a handoff carries it). */
export function summarySections(events: EventRow[], previous: SummaryData | null): string {
	return renderSections(summarize(events, previous));
}

function renderSections(data: SummaryData): string {
	return [
		section("Goal", data.goal),
		section("Earlier summaries (agent)", data.agent),
		section("What we discovered", data.discovered),
		section("Key files and facts", data.facts),
		section("Decisions", data.decisions),
		section("Errors and lessons", data.errors),
		section("Current state", data.state),
		section("Open items", data.open),
	]
		.filter(Boolean)
		.join("\n")
		.trim();
}
