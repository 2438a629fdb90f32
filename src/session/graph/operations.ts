/**
 * The checkpointer's operations on the session its thread is. `put`, `putWrites` and
 * `deleteThread` are one kernel write each and bump the session version at most once; the
 * graph's bookkeeping appends no event, counts no tokens and touches no state, so it never
 * shows in the context window, the token counts or the state history. What does show is the
 * conversation: a put carries the root graph's messages, and those new to the session are
 * appended as message events in the same write (and retracted by `deleteThread`). `getTuple`
 * and `list` are one read each. Values larger than the session's inline limit go to R2 in prepare.
 */
import { BlobStoreUnavailable } from "../../blobs/blob-store";
import { fail, ok, type Result } from "../../errors";
import type { GraphListQuery, GraphMessage, GraphPage, GraphPutBody, GraphTuple, GraphTupleQuery, GraphValue, GraphWriteResult, GraphWritesBody } from "../../schemas/graph";
import type { SessionContext } from "../kernel/session-context";
import type { WriteUploads } from "../kernel/uploads";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import type { RecordedEvent } from "../../schemas/events";
import { commitEvents, prepareEvents } from "../events/operations";
import { bumpVersion, indexRow, inlineLimitOf, readSession, type SessionRow } from "../sessions/session-row";
import { refreshContextSize } from "../compaction/compactor";
import { notRetractedSql, retractSeqs } from "../events/retractions";
import { visibilitySql, visibleIntervals } from "../history/visibility";
import { fromBase64, toBase64 } from "./bytes";
import { clearGraph, insertBlob, insertCheckpoint, insertWrite, listTuples, readTuple, type StoredTuple, type StoredValue } from "./store";

/** A checkpoint row stays inline: SQLite rows of a Durable Object are bounded (2 MB). */
const MAX_CHECKPOINT_BYTES = 1024 * 1024;

interface Placed {
	type: string;
	data: Uint8Array | null;
	sha256: string | null;
}

export function putCheckpoint(session: SessionContext, body: GraphPutBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>> {
	return session.kernel.write({
		operation: "graph_put",
		input: body,
		options,
		basis: () => unmirrored(session.sql, body.conversation).map((message) => message.id),
		prepare: async ({ row, uploads }) => {
			const checkpoint = fromBase64(body.checkpoint.data);
			if (checkpoint.length > MAX_CHECKPOINT_BYTES) return fail("payload_too_large", `A checkpoint without its channel values must be at most ${MAX_CHECKPOINT_BYTES} bytes`, { maxBytes: MAX_CHECKPOINT_BYTES });
			const limit = inlineLimitOf(row as SessionRow, session.config.inlineLimitBytes);
			const blobs: Array<Placed & { channel: string; version: string }> = [];
			for (const blob of body.blobs) blobs.push({ channel: blob.channel, version: blob.version, ...(await place(blob.type, blob.data ?? null, limit, uploads)) });
			const messages = unmirrored(session.sql, body.conversation);
			const events = await prepareEvents(session, row as SessionRow, messages.map(toEvent), uploads);
			return { checkpoint, blobs, messages, events };
		},
		apply: ({ plan, row, now }) => {
			insertCheckpoint(
				session.sql,
				{
					checkpointNs: body.checkpointNs,
					checkpointId: body.checkpointId,
					parentCheckpointId: body.parentCheckpointId,
					format: body.format,
					type: body.checkpoint.type,
					checkpoint: plan.checkpoint,
					channelVersions: JSON.stringify(body.channelVersions),
					metadata: body.metadata,
				},
				now,
			);
			for (const blob of plan.blobs) insertBlob(session.sql, body.checkpointNs, blob.channel, blob.version, blob);
			if (plan.events.length === 0) return ok({ version: bump(session.sql, now) });
			// The new messages and the checkpoint are one version: the append bumps it.
			const { updated, firstSeq } = commitEvents(session.sql, row as SessionRow, plan.events, now);
			// A message mirrored before and retracted since (deleteThread) now points at its new event.
			plan.messages.forEach((message, index) => session.sql.exec("INSERT OR REPLACE INTO graph_messages (message_id, seq) VALUES (?, ?)", message.id, firstSeq + index));
			return ok({ version: updated.version });
		},
	});
}

export function putWrites(session: SessionContext, body: GraphWritesBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>> {
	return session.kernel.write({
		operation: "graph_put_writes",
		input: body,
		options,
		prepare: async ({ row, uploads }) => {
			const limit = inlineLimitOf(row as SessionRow, session.config.inlineLimitBytes);
			const writes: Array<Placed & { idx: number; channel: string }> = [];
			for (const write of body.writes) writes.push({ idx: write.idx, channel: write.channel, ...(await place(write.type, write.data, limit, uploads)) });
			return writes;
		},
		apply: ({ plan, now }) => {
			for (const write of plan) insertWrite(session.sql, body, write);
			return ok({ version: bump(session.sql, now) });
		},
	});
}

/**
 * Clears the graph's data so the thread id can be used again; the session, its state and the
 * events others wrote stay. The messages mirrored from the graph's conversation are retracted
 * in the same write: a reused id would otherwise start with the old conversation in its window.
 * They leave the list and the window and stay in the log's history, as any retraction's do.
 * Values already in R2 stay there until the session is deleted: keys are content addressed
 * and shared, and only the session's own purge can sweep them without racing a write.
 */
export function deleteThread(session: SessionContext, options: WriteOptions): Promise<WriteResult<{ deleted: number; version: number }>> {
	return session.kernel.write({
		operation: "graph_delete_thread",
		options,
		apply: ({ row, now }) => {
			const current = row as SessionRow;
			const retracted = retractSeqs(session.sql, visibleIntervals(session.sql, current.version), { clause: "SELECT seq FROM graph_messages", params: [] }, current.version + 1);
			const deleted = clearGraph(session.sql);
			if (retracted === 0 && deleted === 0) return ok({ deleted: 0, version: current.version });
			const updated = bumpVersion(session.sql, {}, now);
			// The window's size changes with the retraction; projected after, so the index sees this version's size.
			if (retracted > 0) refreshContextSize(session.sql, visibleIntervals(session.sql, updated.version));
			project(session.sql, { kind: "write", session: indexRow(readSession(session.sql) as SessionRow) }, now);
			return ok({ deleted, version: updated.version });
		},
	});
}

export function getTuple(session: SessionContext, query: GraphTupleQuery): Promise<Result<GraphTuple | null>> {
	return session.kernel.read(async (row) => {
		const stored = readTuple(session.sql, query.checkpointNs, query.checkpointId);
		return ok(stored ? await render(session, row, stored) : null);
	});
}

export function listCheckpoints(session: SessionContext, query: GraphListQuery): Promise<Result<GraphPage>> {
	return session.kernel.read(async (row) => {
		const stored = listTuples(session.sql, query);
		const checkpoints: GraphTuple[] = [];
		for (const tuple of stored) checkpoints.push(await render(session, row, tuple));
		return ok({ checkpoints });
	});
}

/**
 * The messages not in the session's history as it is now, in order (the basis re-plans a put if
 * another mirrored some meanwhile). A message counts as there while the event it was mirrored to
 * is: `deleteThread` retracts them, so a reused id mirrors anew, and a restore to before that
 * brings them back, so they are not mirrored twice.
 */
function unmirrored(sql: SqlStorage, conversation: GraphMessage[]): GraphMessage[] {
	const row = readSession(sql) as SessionRow;
	const intervals = visibleIntervals(sql, row.version);
	const visible = visibilitySql(intervals, "events.version");
	const notRetracted = notRetractedSql(intervals, "events.seq");
	const seen = new Set(
		sql
			.exec<{ message_id: string }>(
				`SELECT message_id FROM graph_messages JOIN events ON events.seq = graph_messages.seq
				 WHERE message_id IN (SELECT value FROM json_each(?)) AND ${visible.clause} AND ${notRetracted.clause}`,
				JSON.stringify(conversation.map((message) => message.id)),
				...visible.params,
				...notRetracted.params,
			)
			.toArray()
			.map((found) => found.message_id),
	);
	const fresh = new Map<string, GraphMessage>();
	for (const message of conversation) if (!seen.has(message.id) && !fresh.has(message.id)) fresh.set(message.id, message);
	return [...fresh.values()];
}

function toEvent(message: GraphMessage): RecordedEvent {
	const event: RecordedEvent = { type: "message", role: message.role, content: message.content, metadata: { messageId: message.id, source: "langgraph" } };
	if (message.name) event.name = message.name;
	if (message.toolCallId) event.toolCallId = message.toolCallId;
	return event;
}

/** One new session version per call, projected to the index like any write. */
function bump(sql: SqlStorage, now: number): number {
	const updated = bumpVersion(sql, {}, now);
	project(sql, { kind: "write", session: indexRow(updated) }, now);
	return updated.version;
}

async function place(type: string, base64: string | null, inlineLimit: number, uploads: WriteUploads): Promise<Placed> {
	if (base64 === null) return { type, data: null, sha256: null };
	const bytes = fromBase64(base64);
	if (bytes.length <= inlineLimit) return { type, data: bytes, sha256: null };
	const stored = await uploads.putContent(base64);
	return { type, data: null, sha256: stored.sha256 };
}

async function render(session: SessionContext, row: SessionRow, stored: StoredTuple): Promise<GraphTuple> {
	const value = async (item: StoredValue): Promise<GraphValue> => {
		if (item.sha256 === null) return { type: item.type, data: item.data === null ? "" : toBase64(new Uint8Array(item.data)) };
		const text = await session.dependencies.blobs.get(row.tenant, row.id, item.sha256);
		if (text === null) throw new BlobStoreUnavailable(`graph value ${item.sha256} is missing from R2`);
		return { type: item.type, data: text };
	};
	const tuple: GraphTuple = {
		threadId: row.id,
		checkpointNs: stored.row.checkpointNs,
		checkpointId: stored.row.checkpointId,
		parentCheckpointId: stored.row.parentCheckpointId,
		format: stored.row.format,
		checkpoint: { type: stored.row.type, data: toBase64(stored.row.checkpoint) },
		metadata: stored.row.metadata,
		blobs: await Promise.all(stored.blobs.map(async (blob) => ({ channel: blob.channel, version: blob.version, ...(await value(blob)) }))),
		writes: await Promise.all(stored.writes.map(async (write) => ({ taskId: write.taskId, idx: write.idx, channel: write.channel, taskPath: write.taskPath, ...(await value(write)) }))),
	};
	if (stored.parentSends) tuple.parentSends = await Promise.all(stored.parentSends.map(value));
	return tuple;
}
