/**
 * The package a handoff carries: what the next agent needs to go on, not the transcript.
 * Required parts (who, to whom, the task, and the summary when asked for) must fit the
 * budget, else 422; the optional parts then fill what is left in priority order (decisions,
 * open items, state, references), each cut at its first item that does not fit. Large
 * content travels as references to the source, never inline.
 */
import { fail, ok, type Result } from "../../errors";
import type { EventType } from "../../schemas/events";
import type { HandoffBody, HandoffPackage, HandoffRef } from "../../schemas/handoffs";
import { summarySections } from "../compaction/plan";
import { latestVisibleCompaction, summaryDataOf } from "../compaction/store";
import { countTokens, type Encoding } from "../content/tokens";
import { workStatusLines } from "../context/work-status";
import { hotEventsNewestFirst, isStub, type EventRow, toEvent } from "../events/log";
import { notRetractedSql } from "../events/retractions";
import { type Intervals, visibilitySql, visibleIntervals } from "../history/visibility";
import { encodingOf, type SessionRow } from "../sessions/session-row";
import { pinnedState, type StateRow, unpinnedStateCount, unpinnedStateNewestFirst } from "../state/state";

/** Candidates read per part, at most: a package is small, so its reads stay small too. */
const MAX_CANDIDATES = 200;
/** Hot events the deterministic summary reads, newest first. */
const SUMMARY_EVENTS = 500;

type Decision = HandoffPackage["decisions"][number];
type StateEntry = HandoffPackage["state"][number];
type OptionalPart = "decisions" | "openItems" | "state" | "refs";
/** The optional parts, most important first. */
const PARTS: readonly OptionalPart[] = ["decisions", "openItems", "state", "refs"];

export interface HandoffIds {
	handoffId: string;
	targetId: string;
}

/** Builds the package from the session as it is now; `scope` is the caller's namespace scope. */
export async function buildPackage(sql: SqlStorage, row: SessionRow, body: HandoffBody, ids: HandoffIds, scope: readonly string[] | null): Promise<Result<HandoffPackage>> {
	const include = body.include;
	const intervals = visibleIntervals(sql, row.version);
	const encoding = encodingOf(row);
	const handoff: HandoffPackage = {
		handoffId: ids.handoffId,
		from: { sessionId: row.id, agent: row.agent, version: row.version },
		to: { agent: body.to.agent, sessionId: ids.targetId },
		task: body.task,
		summary: include.summary ? summaryOf(sql, intervals) : null,
		decisions: [],
		openItems: [],
		state: [],
		refs: [],
		omitted: [],
		// A placeholder of the widest value it can take, so counting the package counts this field too.
		tokens: include.maxTokens,
		createdAt: new Date().toISOString(),
	};
	// Everything is read before the first await, so the package is one consistent version.
	const decisionRows = decisionsOf(sql, intervals, include.eventTypes);
	const state = include.stateNamespaces?.length ? stateOf(sql, include.stateNamespaces, scope) : { rows: [], total: 0 };
	const candidates: Record<OptionalPart, unknown[]> = {
		decisions: decisionRows.map(toDecision),
		openItems: openItemsOf(sql, intervals),
		state: state.rows.map(toStateEntry),
		refs: refsOf(sql, row.id, intervals, decisionRows, state.rows),
	};
	// Candidates are read up to MAX_CANDIDATES per part; `omitted` counts against the true totals.
	const totals: Record<OptionalPart, number> = {
		decisions: decisionCount(sql, intervals, include.eventTypes),
		openItems: candidates.openItems.length,
		state: state.total,
		refs: candidates.refs.length,
	};
	// The required parts, with room for `omitted` at its largest (every part left out).
	handoff.omitted = PARTS.filter((part) => totals[part] > 0).map((part) => ({ part, count: totals[part] }));
	const required = await tokensOf(handoff, encoding);
	handoff.omitted = [];
	if (required > include.maxTokens) {
		return fail("budget_too_small", `The handoff's required parts (task${include.summary ? ", summary" : ""}) need ${required} tokens; maxTokens is ${include.maxTokens}`, {
			maxTokens: include.maxTokens,
			requiredTokens: required,
		});
	}

	let remaining = include.maxTokens - required;
	for (const part of PARTS) {
		const taken = handoff[part] as unknown[];
		for (const candidate of candidates[part]) {
			// One token for the comma that joins it to the previous item.
			const cost = (await countTokens(JSON.stringify(candidate), encoding)) + 1;
			if (cost > remaining) break;
			taken.push(candidate);
			remaining -= cost;
		}
	}
	// Item by item counts can differ from the whole by a token here and there, and `omitted`
	// takes room too: count the whole, and drop the least important items until it fits.
	const settle = () => {
		handoff.omitted = PARTS.filter((part) => totals[part] > handoff[part].length).map((part) => ({ part, count: totals[part] - handoff[part].length }));
		return tokensOf(handoff, encoding);
	};
	let total = await settle();
	while (total > include.maxTokens) {
		const part = [...PARTS].reverse().find((name) => handoff[name].length > 0);
		if (!part) break;
		handoff[part].pop();
		total = await settle();
	}
	// Counted with the widest value the field can take: the package is at most this.
	handoff.tokens = total;
	return ok(handoff);
}

function tokensOf(handoff: HandoffPackage, encoding: Encoding): Promise<number> {
	return countTokens(JSON.stringify(handoff), encoding);
}

/** The latest compaction's summary carried forward over the hot events since. */
function summaryOf(sql: SqlStorage, intervals: Intervals): string {
	const compaction = latestVisibleCompaction(sql, intervals);
	const recent: EventRow[] = [];
	for (const row of hotEventsNewestFirst(sql, intervals)) {
		if (recent.length >= SUMMARY_EVENTS) break;
		recent.push(row);
	}
	const sections = summarySections(recent.reverse(), summaryDataOf(compaction));
	const through = compaction ? `Earlier events through #${compaction.to_seq} are compacted.\n` : "";
	return `${through}${sections}`.trim();
}

/** Events in effect at these intervals: written in them, and not hidden by a retraction in them. */
function visibleEventsSql(intervals: Intervals): { clause: string; params: Array<string | number> } {
	const written = visibilitySql(intervals);
	const notRetracted = notRetractedSql(intervals);
	return { clause: `${written.clause} AND ${notRetracted.clause}`, params: [...written.params, ...notRetracted.params] };
}

/** Events of the asked-for types, newest first, compacted ones included (as references). */
function decisionsOf(sql: SqlStorage, intervals: Intervals, types: EventType[]): EventRow[] {
	const visible = visibleEventsSql(intervals);
	return sql
		.exec<EventRow & Record<string, SqlStorageValue>>(
			`SELECT * FROM events WHERE type IN (${types.map(() => "?").join(",")}) AND ${visible.clause} ORDER BY seq DESC LIMIT ?`,
			...types,
			...visible.params,
			MAX_CANDIDATES,
		)
		.toArray();
}

function decisionCount(sql: SqlStorage, intervals: Intervals, types: EventType[]): number {
	const visible = visibleEventsSql(intervals);
	return sql
		.exec<{ n: number }>(`SELECT count(*) AS n FROM events WHERE type IN (${types.map(() => "?").join(",")}) AND ${visible.clause}`, ...types, ...visible.params)
		.one().n;
}

function toDecision(row: EventRow): Decision {
	const event = toEvent(row);
	const decision: Decision = { seq: event.seq, type: event.type, createdAt: event.createdAt };
	if (isStub(row)) decision.archived = true;
	else if (event.contentRef) decision.contentRef = event.contentRef;
	else decision.content = event.content;
	return decision;
}

/** Open workflow steps, pending approvals and recent failures: what the next agent must pick up. */
function openItemsOf(sql: SqlStorage, intervals: Intervals): string[] {
	return (workStatusLines(sql, intervals, true) ?? []).slice(1);
}

function stateOf(sql: SqlStorage, namespaces: string[], scope: readonly string[] | null): { rows: StateRow[]; total: number } {
	const pinned = pinnedState(sql, namespaces, scope);
	const rows = [...pinned];
	for (const row of unpinnedStateNewestFirst(sql, namespaces, scope)) {
		if (rows.length >= MAX_CANDIDATES) break;
		rows.push(row);
	}
	return { rows, total: pinned.length + unpinnedStateCount(sql, namespaces, scope) };
}

function toStateEntry(row: StateRow): StateEntry {
	if (row.blob_sha256) return { ns: row.ns, key: row.key, contentRef: { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" } };
	return { ns: row.ns, key: row.key, value: JSON.parse(row.value ?? "null") };
}

/** Where the large and the compacted content is: blobs of what the package names, and compaction archives. */
function refsOf(sql: SqlStorage, sessionId: string, intervals: Intervals, decisions: EventRow[], state: StateRow[]): HandoffRef[] {
	const refs: HandoffRef[] = [];
	for (const row of decisions) {
		if (row.blob_sha256) refs.push({ kind: "blob", sessionId, seq: row.seq, sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" });
	}
	for (const row of state) {
		if (row.blob_sha256) refs.push({ kind: "blob", sessionId, ns: row.ns, key: row.key, sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" });
	}
	const visible = visibilitySql(intervals);
	const archives = sql
		.exec<{ from_seq: number; to_seq: number; archived_count: number }>(
			`SELECT from_seq, to_seq, archived_count FROM compactions WHERE ${visible.clause} ORDER BY id DESC LIMIT ?`,
			...visible.params,
			MAX_CANDIDATES,
		)
		.toArray();
	for (const archive of archives) refs.push({ kind: "archive", sessionId, fromSeq: archive.from_seq, toSeq: archive.to_seq, events: archive.archived_count });
	return refs;
}
