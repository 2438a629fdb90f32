/**
 * Reads a context window's sources out of the object's storage: now, from hot storage only;
 * at an earlier version, from the history tables and, for events compacted since, from their
 * R2 archives. Both feed the same pure assembly (context.ts), which is what makes `at=V`
 * reproduce the window that was served at V.
 */
import { admitsNamespace } from "../../auth/scopes";
import type { BlobStore } from "../../blobs/blob-store";
import { type Failure, fail, type Result } from "../../errors";
import type { ContextItem, ContextQuery, ContextWindow } from "../../schemas/context";
import type { Event } from "../../schemas/events";
import { compactedEventCount, compactionById, latestVisibleCompaction } from "../compaction/store";
import { assembleWindow } from "./assemble";
import { workStatusItem, workStatusLines } from "./work-status";
import { visibilitySql, visibleIntervals } from "../history/visibility";
import { type EventRow, eventsNewestFirstAt, hotEventsNewestFirst, isStub, pinnedEvents, toEvent, windowTokens } from "../events/log";
import { isSystemNamespace } from "../state/namespaces";
import { digestLine, pinnedState, type StateRow, stateAt, unpinnedStateCount, unpinnedStateNewestFirst } from "../state/state";

/** Parses a compaction archive (JSONL of event views) into events by seq. */
export function parseArchive(jsonl: string): Map<number, Event> {
	const events = new Map<number, Event>();
	for (const line of jsonl.split("\n")) {
		if (!line) continue;
		const event = JSON.parse(line) as Event;
		events.set(event.seq, event);
	}
	return events;
}

/**
 * Loads the archived views of stubs, one R2 read per archive involved: a compacted event's
 * from its compaction's archive, one moved out by retention from its segment.
 */
export async function loadArchived(sql: SqlStorage, blobs: BlobStore, stubs: EventRow[]): Promise<Map<number, Event>> {
	const found = new Map<number, Event>();
	const byArchive = Map.groupBy(stubs, (row) => (row.archived_by !== null ? `compaction ${row.archived_by}` : `segment ${row.segment_id}`));
	const reads = [...byArchive].map(([archive, rows]) => {
		const [first] = rows;
		const key =
			first.archived_by !== null
				? compactionById(sql, first.archived_by)?.archive_key
				: sql.exec<{ key: string }>("SELECT archive_key AS key FROM segments WHERE id = ?", first.segment_id).toArray()[0]?.key;
		return { archive, rows, text: key ? blobs.getText(key) : Promise.resolve(null) };
	});
	const texts = await Promise.all(reads.map((read) => read.text));
	for (const [index, { archive, rows }] of reads.entries()) {
		const text = texts[index];
		if (text === null) throw new Error(`the archive of ${archive} is missing`);
		const archived = parseArchive(text);
		for (const row of rows) {
			const event = archived.get(row.seq);
			if (!event) throw new Error(`event ${row.seq} is missing from the archive of ${archive}`);
			found.set(row.seq, event);
		}
	}
	return found;
}

export function eventItem(kind: "event" | "pinned_event", event: Event, tokens: number): ContextItem {
	const item: ContextItem = { kind, seq: event.seq, type: event.type, tokens };
	if (event.role) item.role = event.role;
	if (event.name) item.name = event.name;
	if (event.toolCallId) item.toolCallId = event.toolCallId;
	if (event.contentRef) item.contentRef = event.contentRef;
	else item.content = event.content;
	return item;
}

export function stateItem(row: StateRow): ContextItem {
	const item: ContextItem = { kind: "pinned_state", ns: row.ns, key: row.key, tokens: row.tokens };
	if (row.blob_sha256) item.contentRef = { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" };
	else item.content = JSON.parse(row.value ?? "null");
	return item;
}

/** Builds the window for `query.budget` as of `query.at` (default: now). */
export async function buildWindow(
	sql: SqlStorage,
	blobs: BlobStore,
	query: ContextQuery,
	currentVersion: number,
	/** The caller's namespace scope: state outside it never enters the window. */
	scope: readonly string[] | null,
	/** Items of linked layers to place after the pinned ones (operations/layers.ts). */
	layers: ContextItem[] = [],
): Promise<Result<ContextWindow> | Failure> {
	const version = query.at ?? currentVersion;
	if (version > currentVersion) {
		return fail("validation_failed", `Version ${version} is in the future; the session is at ${currentVersion}`, {
			issues: [{ path: "at", message: `at most ${currentVersion}` }],
		});
	}
	const current = version === currentVersion;
	const intervals = visibleIntervals(sql, version);
	// Now: pinned keys in full, unpinned ones through a cursor the digest stops pulling at its
	// share. At an earlier version the state is rebuilt from its log (all keys of that version).
	let pinnedKeys: StateRow[];
	let digestRows: Iterable<StateRow>;
	let digestLines: number;
	if (current) {
		pinnedKeys = pinnedState(sql, query.namespaces, scope);
		digestRows = unpinnedStateNewestFirst(sql, query.namespaces, scope);
		digestLines = unpinnedStateCount(sql, query.namespaces, scope);
	} else {
		const namespaces = query.namespaces?.length ? new Set(query.namespaces) : null;
		const then = stateAt(sql, visibilitySql(intervals)).filter(
			(row) => (namespaces === null ? !isSystemNamespace(row.ns) : namespaces.has(row.ns)) && admitsNamespace(scope, row.ns),
		);
		pinnedKeys = then.filter((row) => row.pinned === 1);
		digestRows = then.filter((row) => row.pinned === 0);
		digestLines = then.length - pinnedKeys.length;
	}
	const summaryRow = latestVisibleCompaction(sql, intervals);

	// Event rows stand in for items until the selection is made: only the chosen stubs are
	// then read back from their archives.
	const rowsByItem = new Map<ContextItem, EventRow>();
	const toItem = (kind: "event" | "pinned_event", row: EventRow): ContextItem => {
		const item = eventItem(kind, toEvent(row), windowTokens(row));
		rowsByItem.set(item, row);
		return item;
	};
	const candidates = current ? hotEventsNewestFirst(sql, intervals, query.types) : eventsNewestFirstAt(sql, intervals, query.types);
	const assembled = assembleWindow(query.budget, {
		workStatus: (maxTokens) => workStatusItem(workStatusLines(sql, intervals, current), maxTokens),
		pinned: [
			...pinnedKeys.map(stateItem),
			...pinnedEvents(sql, intervals, query.types).map((row) => toItem("pinned_event", row)),
		],
		layers,
		digest: (function* () {
			for (const row of digestRows) yield { text: digestLine(row.ns, row.key, row.value ?? row.preview ?? ""), tokens: row.tokens };
		})(),
		digestLines,
		summary: summaryRow
			? { kind: "summary", content: summaryRow.summary, tokens: summaryRow.summary_tokens, throughSeq: summaryRow.to_seq }
			: null,
		events: (function* () {
			for (const row of candidates) yield toItem("event", row);
		})(),
		compactedEvents: compactedEventCount(sql, intervals),
	});
	if (!assembled.ok) return assembled;

	const { items, used, omitted } = assembled.value;
	const stubs = items.map((item) => rowsByItem.get(item)).filter((row): row is EventRow => row !== undefined && isStub(row));
	if (stubs.length > 0) {
		const archived = await loadArchived(sql, blobs, stubs);
		for (const [index, item] of items.entries()) {
			const row = rowsByItem.get(item);
			const event = row && isStub(row) ? archived.get(row.seq) : undefined;
			if (event) items[index] = eventItem(item.kind as "event" | "pinned_event", event, item.tokens);
		}
	}
	return {
		ok: true,
		value: { version, budget: query.budget, used, utilization: Math.round((used / query.budget) * 10_000) / 10_000, items, omitted },
	};
}
