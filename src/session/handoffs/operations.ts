/**
 * A handoff's three steps, each in the object that owns the data: the source builds the
 * package (a read), the target receives it (a create seeded with it, or an append), and the
 * source records that it went out. The Worker runs them in that order (operations/handoffs.ts);
 * each step is keyed by the handoff id, so a retried handoff finishes what a failed one began
 * and never delivers twice.
 */
import { admitsSession } from "../../auth/scopes";
import { fail, ok, type Result } from "../../errors";
import type { RecordedEvent } from "../../schemas/events";
import type { HandoffBody, HandoffPackage } from "../../schemas/handoffs";
import type { Session } from "../../schemas/sessions";
import { DEFAULT_ENCODING } from "../content/tokens";
import { commitEvents, prepareEvents, prepareEventsWith, seedEvents } from "../events/operations";
import type { PreparedEvent } from "../events/log";
import type { SessionContext } from "../kernel/session-context";
import { keyOptions, type WriteOptions, type WriteResult } from "../kernel/write-spec";
import { outOfScope } from "../kernel/failures";
import { findLink, recordLink } from "../lineage/links";
import { createWith } from "../sessions/lifecycle";
import type { NewSession, SessionRow } from "../sessions/session-row";
import { sessionView } from "../sessions/view";
import { buildPackage, type HandoffIds } from "./package";

/**
 * The source's part, step one: the package, if the source could also record the handoff, and
 * the source's subject, which a new target inherits (so an erasure by subject reaches the copy).
 */
export function exportHandoff(session: SessionContext, body: HandoffBody, ids: HandoffIds): Promise<Result<{ package: HandoffPackage; subject: string | null }>> {
	return session.kernel.read(async (row) => {
		const blocked = notRecordable(row);
		if (blocked) return blocked;
		const built = await buildPackage(session.sql, row, body, ids, session.caller?.namespaces ?? null);
		return built.ok ? ok({ package: built.value, subject: row.subject }) : built;
	});
}

/** What the target is sent: the package, the request it answers (for idempotency), and the session to create if it is new. */
export interface HandoffArrival {
	package: HandoffPackage;
	request: unknown;
	newSession: NewSession;
}

/**
 * The target's part: creates the session with the package as its first, pinned event, or
 * appends that event to the session that exists. A handoff already received is not received
 * again. The answer is the target session as it stands after the handoff.
 */
export async function receiveHandoff(session: SessionContext, arrival: HandoffArrival, options: WriteOptions): Promise<WriteResult<Session>> {
	const event = handoffInEvent(arrival.package);
	if (!session.kernel.session()) {
		// A new target is created within the caller's reach, as any create is; an existing one is checked by the kernel.
		const target = arrival.newSession;
		if (session.caller && !admitsSession(session.caller.sessions, target.id, target.subject ?? null)) return outOfScope(target.id);
		let prepared: PreparedEvent[] = [];
		const created = await createWith(session, arrival.newSession, options, {
			operation: "handoff_in",
			fingerprinted: arrival.request,
			prepare: async (uploads) => {
				prepared = await prepareEventsWith({ limit: session.config.inlineLimitBytes, encoding: DEFAULT_ENCODING }, [event], uploads);
			},
			seed: (now) => {
				seedEvents(session.sql, prepared, now);
				recordLink(session.sql, { kind: "handoff_in", ref: arrival.package.handoffId, peer: arrival.package.from.sessionId }, now);
			},
		});
		// Someone created it meanwhile: the handoff is appended to it instead.
		if (created.ok || created.code !== "session_exists") return created;
	}
	return session.kernel.write({
		operation: "handoff_in",
		input: arrival.request,
		options: keyOptions(options),
		// Like a message in an inbox, a handoff does not take the session from its lease holder.
		fenced: false,
		basis: () => findLink(session.sql, "handoff_in", arrival.package.handoffId) !== null,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, [event], uploads),
		apply: ({ plan, row, now }) => {
			const current = row as SessionRow;
			if (findLink(session.sql, "handoff_in", arrival.package.handoffId)) return ok(sessionView(session, current, now));
			// The package is the source subject's data: in a session of another subject an erasure of it would miss the copy.
			const subject = arrival.newSession.subject ?? null;
			if (subject !== null && current.subject !== subject) {
				return fail("subject_mismatch", `Session ${current.id} belongs to another data subject than the handoff's source`, { target: current.id });
			}
			const { updated } = commitEvents(session.sql, current, plan, now);
			recordLink(session.sql, { kind: "handoff_in", ref: arrival.package.handoffId, peer: arrival.package.from.sessionId }, now);
			return ok(sessionView(session, updated, now));
		},
	});
}

export interface HandoffDeparture {
	handoffId: string;
	to: { agent: string; sessionId: string };
	task: string;
	tokens: number;
	request: unknown;
}

/** The source's part, step three: a `handoff_out` event and the link, once per handoff id. */
export function recordHandoffOut(session: SessionContext, departure: HandoffDeparture, options: WriteOptions): Promise<WriteResult<{ version: number }>> {
	const event: RecordedEvent = {
		type: "handoff_out",
		content: { handoffId: departure.handoffId, to: departure.to, task: departure.task, tokens: departure.tokens },
		metadata: { handoffId: departure.handoffId, to: departure.to.sessionId },
	};
	return session.kernel.write({
		operation: "handoff_out",
		input: departure.request,
		options: keyOptions(options),
		// A record of what happened, like an escalation: it does not need the lease.
		fenced: false,
		basis: () => findLink(session.sql, "handoff_out", departure.handoffId) !== null,
		prepare: ({ row, uploads }) => prepareEvents(session, row as SessionRow, [event], uploads),
		apply: ({ plan, row, now }) => {
			const current = row as SessionRow;
			if (findLink(session.sql, "handoff_out", departure.handoffId)) return ok({ version: current.version });
			const { updated } = commitEvents(session.sql, current, plan, now);
			recordLink(session.sql, { kind: "handoff_out", ref: departure.handoffId, peer: departure.to.sessionId }, now);
			return ok({ version: updated.version });
		},
	});
}

function handoffInEvent(handoff: HandoffPackage): RecordedEvent {
	return {
		type: "handoff_in",
		content: handoff,
		pinned: true,
		metadata: { handoffId: handoff.handoffId, from: handoff.from.sessionId, fromAgent: handoff.from.agent },
	};
}

/** Why the source could not record a handoff now (it is paused or closed), checked before the target is touched. */
function notRecordable(row: SessionRow) {
	if (row.paused_at !== null) return fail("session_paused", `Session is paused: ${row.pause_reason ?? ""}`, { since: new Date(row.paused_at).toISOString() });
	if (row.closed_at !== null) return fail("session_closed", `Session is closed: ${row.close_reason ?? ""}`, { reason: row.close_reason });
	return null;
}
