/** Checkpoints, restore and fork: naming a version, going back to it, branching from it. */
import * as metrics from "../metrics/metrics";
import { admitsNamespace } from "../../auth/scopes";
import { fail, ok, type Result } from "../../errors";
import type { Checkpoint, CheckpointPage, ForkBody, ListCheckpointsQuery, RestoreBody, RestoreResult } from "../../schemas/context";
import type { Session } from "../../schemas/sessions";
import type { StateItem } from "../../schemas/state";
import { compactionBasis } from "../compaction/compactor";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { createWith } from "../sessions/lifecycle";
import type { NewSession, SessionRow } from "../sessions/session-row";
import { indexRow, readSession } from "../sessions/session-row";
import { approvalIds, rederiveApprovals } from "../approvals/operations";
import { stateAt, toItem } from "../state/state";
import { isSystemNamespace } from "../state/namespaces";
import { exportSnapshot, type ForkSnapshot, seedSnapshot, snapshotBlobs } from "./fork";
import { applyRestore, prepareRestore } from "./restore";
import { type CheckpointRow, insertCheckpoint, listCheckpoints as checkpointRows, readCheckpoint, visibilitySql, visibleIntervals } from "./visibility";

/** Names the current version; restore and fork can start from it later. */
export function createCheckpoint(session: SessionContext, name: string, options: WriteOptions): Promise<WriteResult<Checkpoint>> {
	return session.kernel.write({
		operation: "checkpoint",
		input: name,
		options,
		apply: ({ row, now }) => {
			const current = row as SessionRow;
			if (readCheckpoint(session.sql, name)) return fail("checkpoint_exists", `Checkpoint ${name} already exists`, { name });
			const checkpoint: CheckpointRow = { name, version: current.version, last_seq: current.last_seq, created_at: now };
			insertCheckpoint(session.sql, checkpoint);
			project(session.sql, { kind: "write", session: indexRow(current), checkpoint: { name, version: current.version, lastSeq: current.last_seq, createdAt: now } }, now);
			return ok(toCheckpoint(checkpoint));
		},
	});
}

export function listCheckpoints(session: SessionContext, query: ListCheckpointsQuery): Promise<Result<CheckpointPage>> {
	return session.kernel.read(() => {
		const page = checkpointRows(session.sql, query);
		return ok({ checkpoints: page.rows.map(toCheckpoint), nextAfter: page.nextAfter });
	});
}

/** A checkpoint with the state as it was at its version. */
export function getCheckpoint(session: SessionContext, name: string): Promise<Result<Checkpoint & { state: StateItem[] }>> {
	return session.kernel.read(() => {
		const checkpoint = readCheckpoint(session.sql, name);
		if (!checkpoint) return fail("not_found", `No checkpoint ${name}`, { name });
		const snapshot = stateAt(session.sql, visibilitySql(visibleIntervals(session.sql, checkpoint.version)));
		const scope = session.caller?.namespaces ?? null;
		const visible = snapshot.filter((row) => !isSystemNamespace(row.ns) && admitsNamespace(scope, row.ns));
		return ok({ ...toCheckpoint(checkpoint), state: visible.map(toItem) });
	});
}

/**
 * Rewinds the live state and the window to a checkpoint or version, as a new version. The
 * log keeps everything; events after the target are marked rewound. The plan (which archived
 * events to bring back) rests on the committed compactions and restores: if one commits
 * while the archives are read, the restore re-plans.
 */
export function restore(session: SessionContext, body: RestoreBody, options: WriteOptions): Promise<WriteResult<RestoreResult>> {
	return session.kernel.write({
		operation: "restore",
		input: { checkpoint: body.checkpoint, version: body.version },
		options,
		basis: () => compactionBasis(session.sql),
		prepare: async ({ row }) => {
			const target = pointInTime(session.sql, row as SessionRow, body);
			if (!target.ok) return target;
			return prepareRestore(session.sql, session.dependencies.blobs, target.value, body.checkpoint ?? null);
		},
		apply: ({ plan, now }) => {
			const approvalsBefore = approvalIds(session.sql);
			const applied = applyRestore(session.sql, plan, now);
			project(session.sql, { kind: "write", session: indexRow(applied.session) }, now);
			rederiveApprovals(session.sql, applied.session, now, approvalsBefore);
			metrics.count(session.sql, "restores", now);
			return ok({ version: applied.session.version, restoredTo: plan.target, rewoundEvents: applied.rewoundEvents, stateChanges: applied.stateChanges });
		},
	});
}

/** What a fork needs to start from this session at a checkpoint or version (default: now). */
export function exportFork(session: SessionContext, point: Pick<ForkBody, "checkpoint" | "version">): Promise<Result<ForkSnapshot>> {
	return session.kernel.read(async (row) => {
		const target = point.checkpoint === undefined && point.version === undefined ? ok(row.version) : pointInTime(session.sql, row, point);
		if (!target.ok) return target;
		return exportSnapshot(session.sql, session.dependencies.blobs, row, target.value);
	});
}

/** Creates this session as a fork of the snapshot's session; its blobs are copied first. */
export function createFork(session: SessionContext, input: NewSession, snapshot: ForkSnapshot, options: WriteOptions): Promise<WriteResult<Session>> {
	return createWith(session, input, options, {
		operation: "fork",
		fingerprinted: { input, from: snapshot.sessionId, version: snapshot.version },
		prepare: async (uploads) => {
			for (const sha256 of snapshotBlobs(snapshot)) await uploads.copyFrom(snapshot.sessionId, sha256);
		},
		seed: (now) => {
			// The seeded events reach D1 past the drain's mark (projection/appended.ts).
			seedSnapshot(session.sql, snapshot, now);
			rederiveApprovals(session.sql, readSession(session.sql) as SessionRow, now);
		},
	});
}

/** The version a checkpoint name or an explicit version designates. */
function pointInTime(sql: SqlStorage, row: SessionRow, point: { checkpoint?: string; version?: number }): Result<number> {
	if (point.checkpoint !== undefined) {
		const checkpoint = readCheckpoint(sql, point.checkpoint);
		return checkpoint ? ok(checkpoint.version) : fail("not_found", `No checkpoint ${point.checkpoint}`, { name: point.checkpoint });
	}
	const version = point.version ?? row.version;
	if (version > row.version) {
		return fail("validation_failed", `Version ${version} is in the future; the session is at ${row.version}`, {
			issues: [{ path: "version", message: `at most ${row.version}` }],
		});
	}
	return ok(version);
}

function toCheckpoint(row: CheckpointRow): Checkpoint {
	return { name: row.name, version: row.version, lastSeq: row.last_seq, createdAt: new Date(row.created_at).toISOString() };
}
