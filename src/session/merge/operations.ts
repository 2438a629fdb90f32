/**
 * Merging a fork, as the two session objects involved serve it (the Worker's
 * operations/merge.ts calls them in turn): the target says how far it has merged the fork,
 * the fork exports what it changed since, the target merges that in one kernel write.
 */
import { ok, type Result } from "../../errors";
import type { MergeBody, MergeResult } from "../../schemas/merge";
import { placeValue } from "../content/placement";
import { countTokens } from "../content/tokens";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { encodingOf, inlineLimitOf, type SessionRow } from "../sessions/session-row";
import { digestLine } from "../state/state";
import { applyMerge, lastMergePoint, type PlacedResolution } from "./merge";
import { exportMergeSource, type MergePoint, type MergeSource, sourceBlobs } from "./source";

/** Target: how far the fork has been merged into this session (the fork point if never). */
export function mergePoint(session: SessionContext, forkId: string): Promise<Result<MergePoint>> {
	return session.kernel.read((row) => ok(lastMergePoint(session.sql, forkId, row.version)));
}

/** Fork: what it changed since `since`, for a merge into `into` (its parent, else not_a_fork). */
export function mergeSource(session: SessionContext, into: string, since: MergePoint): Promise<Result<MergeSource>> {
	return session.kernel.read((row) => exportMergeSource(session.sql, session.dependencies.blobs, row, into, since));
}

/**
 * Target: merges the source in one write. Prepare copies the blobs the fork's rows and events
 * reference into this session's prefix and places large resolution values; it reads nothing
 * of this session's state, which apply reads inside the transaction (merge.ts), so a write
 * landing during those awaits is merged against. An Idempotency-Key fingerprints the request,
 * not the source: a retry replays even though the fork now has nothing new to give.
 */
export function mergeFork(session: SessionContext, body: MergeBody, source: MergeSource, options: WriteOptions): Promise<WriteResult<MergeResult>> {
	const strategy = body.strategy ?? "report";
	return session.kernel.write({
		operation: "merge",
		input: { from: body.from, strategy, resolutions: body.resolutions ?? [] },
		options,
		prepare: async ({ row, uploads }) => {
			const current = row as SessionRow;
			for (const sha256 of sourceBlobs(source)) await uploads.copyFrom(source.forkId, sha256);
			const resolutions: PlacedResolution[] = [];
			for (const { ns, key, value, deleted, pinned } of body.resolutions ?? []) {
				if (deleted) {
					resolutions.push({ ns, key, deleted: true });
					continue;
				}
				const placed = await placeValue(value, inlineLimitOf(current, session.config.inlineLimitBytes), uploads);
				const tokens = await countTokens(digestLine(ns, key, placed.inline ?? placed.preview ?? ""), encodingOf(current));
				resolutions.push({ ns, key, deleted: false, placed, tokens, pinned });
			}
			return resolutions;
		},
		apply: ({ plan, row, now }) => applyMerge(session.sql, row as SessionRow, source, strategy, plan, now),
	});
}
