/**
 * The append-only event log. Invariant: seqs are assigned here, inside the write's
 * transaction, as last_seq + 1, + 2, ... so they are contiguous and never reused.
 */
import type { Event, EventInput, EventType } from "../schemas/events";
import type { PlacedValue } from "./content";
import { toPage } from "../paging";

interface EventRow {
	seq: number;
	version: number;
	type: EventType;
	role: string | null;
	name: string | null;
	tool_call_id: string | null;
	content: string | null;
	blob_sha256: string | null;
	blob_bytes: number | null;
	preview: string | null;
	metadata: string | null;
	tokens: number;
	created_at: number;
}

export interface PreparedEvent {
	input: EventInput;
	content: PlacedValue;
	tokens: number;
}

/** What the D1 index keeps of an event: enough to find it, not its content. */
export interface EventIndexRow {
	seq: number;
	type: EventType;
	role: string | null;
	name: string | null;
	tokens: number;
	createdAt: number;
}

export function insertEvents(
	sql: SqlStorage,
	events: PreparedEvent[],
	start: { seq: number; version: number; tokensTotal: number },
	now: number,
): EventIndexRow[] {
	let cumulative = start.tokensTotal;
	return events.map(({ input, content, tokens }, index) => {
		const seq = start.seq + index;
		cumulative += tokens;
		sql.exec(
			`INSERT INTO events (seq, version, type, role, name, tool_call_id, content, blob_sha256, blob_bytes, preview,
				metadata, tokens, tokens_cumulative, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			seq,
			start.version,
			input.type,
			input.role ?? null,
			input.name ?? null,
			input.toolCallId ?? null,
			content.inline,
			content.blob?.sha256 ?? null,
			content.blob?.bytes ?? null,
			content.preview,
			input.metadata ? JSON.stringify(input.metadata) : null,
			tokens,
			cumulative,
			now,
		);
		return {
			seq,
			type: input.type,
			role: input.role ?? null,
			name: input.name ?? null,
			tokens,
			createdAt: now,
		};
	});
}

/** One page of events after `after`, in seq order, optionally of some types only. */
export function readEvents(
	sql: SqlStorage,
	query: { after: number; limit: number; types?: EventType[] },
): { events: Event[]; nextAfter: number | null } {
	const typeFilter = query.types?.length ? `AND type IN (${query.types.map(() => "?").join(",")})` : "";
	const rows = sql
		.exec<EventRow & Record<string, SqlStorageValue>>(
			`SELECT seq, version, type, role, name, tool_call_id, content, blob_sha256, blob_bytes, preview, metadata,
				tokens, created_at
			 FROM events WHERE seq > ? ${typeFilter} ORDER BY seq LIMIT ?`,
			query.after,
			...(query.types ?? []),
			query.limit + 1,
		)
		.toArray();
	const { page, next } = toPage(rows, query.limit, (row) => row.seq);
	return { events: page.map(toEvent), nextAfter: next };
}

function toEvent(row: EventRow): Event {
	const event: Event = {
		seq: row.seq,
		version: row.version,
		type: row.type,
		tokens: row.tokens,
		createdAt: new Date(row.created_at).toISOString(),
	};
	if (row.role) event.role = row.role as Event["role"];
	if (row.name) event.name = row.name;
	if (row.tool_call_id) event.toolCallId = row.tool_call_id;
	if (row.content !== null) event.content = JSON.parse(row.content);
	if (row.blob_sha256) {
		event.contentRef = { sha256: row.blob_sha256, bytes: row.blob_bytes ?? 0, preview: row.preview ?? "" };
	}
	if (row.metadata) event.metadata = JSON.parse(row.metadata) as Record<string, unknown>;
	return event;
}
