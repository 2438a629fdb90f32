/** Compaction on request and on its timer, and the list of compaction records. */
import { ok, type Result } from "../../errors";
import type { CompactBody, Compaction, CompactionPage, CompactResult, ListCompactionsQuery } from "../../schemas/context";
import type { TimerHandler } from "../kernel/capability";
import type { SessionContext } from "../kernel/session-context";
import * as timers from "../kernel/timers";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { indexRow, type SessionRow } from "../sessions/session-row";
import { applyCompaction, COMPACT_TIMER, compactionBasis, compactionTrigger, type PreparedCompaction, prepareCompaction, scheduleCompaction, type Trigger } from "./compactor";
import { listCompactions as compactionRows, toCompaction } from "./store";

export { COMPACT_TIMER };

const NOTHING_TO_COMPACT = "nothing to compact: only recent, pinned or kept events remain";

/**
 * Compacts now, with the agent's own summary when given. The originals are archived to R2
 * before they leave the window; `compacted: false` says why nothing was done.
 */
export function compact(session: SessionContext, body: CompactBody, options: WriteOptions): Promise<WriteResult<CompactResult>> {
	return compactWith(session, { trigger: "manual", upToSeq: body.upToSeq, agentSummary: body.summary, options });
}

/**
 * The compaction timer: re-checks the triggers (a timer may run late, early or twice) and
 * compacts if one holds. The timer completes in the compaction's own transaction; if the
 * work fails, it stays and is retried with backoff.
 */
export const compactWhenDue: TimerHandler = async (session, run) => {
	const row = session.kernel.session();
	if (!row || row.status !== "active") return;
	const trigger = compactionTrigger(session.sql, row, Date.now());
	if (!trigger) {
		// Woken before a trigger holds (or after it passed): keep the time-based check armed.
		session.kernel.transaction(() => {
			timers.complete(session.sql, run);
			scheduleCompaction(session.sql, row, [], Date.now());
		});
		return;
	}
	const result = await compactWith(session, { trigger, timer: run });
	if (!result.ok && result.code !== "session_deleted" && result.code !== "session_not_found") {
		throw new Error(`${result.code}: ${result.message}`);
	}
};

function compactWith(
	session: SessionContext,
	job: { trigger: Trigger; upToSeq?: number; agentSummary?: string; options?: WriteOptions; timer?: timers.TimerRun },
): Promise<WriteResult<CompactResult>> {
	return session.kernel.write<PreparedCompaction | null, CompactResult>({
		operation: "compact",
		input: { summary: job.agentSummary, upToSeq: job.upToSeq },
		options: job.options,
		// A lease fences writers, not the session's own upkeep.
		fenced: job.timer === undefined,
		whilePaused: job.timer !== undefined,
		whileClosed: job.timer !== undefined,
		timer: job.timer,
		basis: () => compactionBasis(session.sql),
		prepare: ({ row, uploads }) => prepareCompaction(session.sql, session.dependencies.blobs, uploads, row as SessionRow, { upToSeq: job.upToSeq, agentSummary: job.agentSummary }),
		apply: ({ plan, now }) => {
			if (!plan) return ok({ compacted: false, compaction: null, reason: NOTHING_TO_COMPACT });
			const { compaction, session: updated } = applyCompaction(session.sql, plan, job.trigger, now);
			const view = toCompaction(compaction);
			project(session.sql, { kind: "write", session: indexRow(updated), compaction: indexedCompaction(view, now) }, now);
			scheduleCompaction(session.sql, updated, [], now);
			return ok({ compacted: true, compaction: view });
		},
	});
}

function indexedCompaction(view: Compaction, now: number) {
	return {
		id: view.id,
		version: view.version,
		fromSeq: view.fromSeq,
		toSeq: view.toSeq,
		archivedEvents: view.archivedEvents,
		beforeTokens: view.beforeTokens,
		afterTokens: view.afterTokens,
		summarizer: view.summarizer,
		trigger: view.trigger,
		createdAt: now,
	};
}

export function listCompactions(session: SessionContext, query: ListCompactionsQuery): Promise<Result<CompactionPage>> {
	return session.kernel.read(() => {
		const page = compactionRows(session.sql, query);
		return ok({ compactions: page.rows.map(toCompaction), nextAfter: page.nextAfter });
	});
}
