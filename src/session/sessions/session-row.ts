/**
 * The session row: identity, counters and the session version. Invariant: `version` grows by
 * exactly one per accepted write and `last_seq` is the highest event seq ever assigned; both
 * change only inside the write's transaction.
 */
import type { Json } from "../../schemas/common";
import type { SessionIndexRow } from "../../db/projection";
import type { Session, SessionPolicy } from "../../schemas/sessions";
import { DEFAULT_ENCODING, type Encoding } from "../content/tokens";

export interface SessionRow {
	id: string;
	tenant: string;
	status: "active" | "deleted";
	agent: string | null;
	subject: string | null;
	parent_id: string | null;
	metadata: string;
	policy: string;
	version: number;
	last_seq: number;
	event_count: number;
	state_key_count: number;
	tokens_total: number;
	created_at: number;
	updated_at: number;
	deleted_at: number | null;
	reported_input_tokens: number | null;
	reported_at_context: number | null;
	context_tokens: number;
	summary_tokens: number;
	last_compaction_at: number | null;
	forked_from: string | null;
	paused_at: number | null;
	pause_reason: string | null;
	pause_until: number | null;
	/** Set once a subagent's session has answered or timed out: agent writes then get 409 session_closed. */
	closed_at: number | null;
	close_reason: string | null;
	/** Layers (name → session id) whose context a window may include: JSON, null when none. */
	links: string | null;
}

export interface NewSession {
	id: string;
	tenant: string;
	agent?: string;
	subject?: string;
	parentId?: string;
	metadata?: Record<string, Json>;
	policy?: SessionPolicy;
	forkedFrom?: { sessionId: string; version: number };
}

export function readSession(sql: SqlStorage): SessionRow | null {
	return sql.exec<SessionRow & Record<string, SqlStorageValue>>("SELECT * FROM session").toArray()[0] ?? null;
}

export function insertSession(sql: SqlStorage, input: NewSession, now: number): SessionRow {
	sql.exec(
		`INSERT INTO session (singleton, id, tenant, status, agent, subject, parent_id, metadata, policy, version,
			last_seq, event_count, state_key_count, tokens_total, created_at, updated_at, forked_from)
		 VALUES (1, ?, ?, 'active', ?, ?, ?, ?, ?, 1, 0, 0, 0, 0, ?, ?, ?)`,
		input.id,
		input.tenant,
		input.agent ?? null,
		input.subject ?? null,
		input.parentId ?? null,
		JSON.stringify(input.metadata ?? {}),
		JSON.stringify(input.policy ?? {}),
		now,
		now,
		input.forkedFrom ? JSON.stringify(input.forkedFrom) : null,
	);
	return readSession(sql) as SessionRow;
}

/** Applies one accepted write's effect on the counters and bumps the version by one. */
export function bumpVersion(
	sql: SqlStorage,
	change: { lastSeq?: number; events?: number; tokens?: number; contextTokens?: number; stateKeys?: number },
	now: number,
): SessionRow {
	return sql
		.exec<SessionRow & Record<string, SqlStorageValue>>(
		`UPDATE session SET version = version + 1,
			last_seq = COALESCE(?, last_seq),
			event_count = event_count + ?,
			tokens_total = tokens_total + ?,
			context_tokens = context_tokens + ?,
			state_key_count = state_key_count + ?,
			updated_at = ?
		 RETURNING *`,
		change.lastSeq ?? null,
		change.events ?? 0,
		change.tokens ?? 0,
		change.contextTokens ?? 0,
		change.stateKeys ?? 0,
		now,
	)
		.one();
}

/** Keeps only what proves the session existed and was deleted: no agent, subject or metadata. */
export function markDeleted(sql: SqlStorage, now: number): SessionRow {
	sql.exec(
		`UPDATE session SET status = 'deleted', agent = NULL, subject = NULL, metadata = '{}', policy = '{}', links = NULL,
			version = version + 1, updated_at = ?, deleted_at = ?`,
		now,
		now,
	);
	return readSession(sql) as SessionRow;
}

let parsedPolicy: { text: string; policy: SessionPolicy } | null = null;

/** The row's policy, parsed once per distinct text (it is read on every write). */
export function sessionPolicy(row: SessionRow): SessionPolicy {
	if (parsedPolicy?.text !== row.policy) parsedPolicy = { text: row.policy, policy: JSON.parse(row.policy) as SessionPolicy };
	return parsedPolicy.policy;
}

/** The tokenizer the session counts with. */
export function encodingOf(row: SessionRow): Encoding {
	return sessionPolicy(row).tokenizer ?? DEFAULT_ENCODING;
}

/** Content whose JSON is larger than this goes to R2: the session's own limit, else the deployment's. */
export function inlineLimitOf(row: SessionRow, configured: number): number {
	return sessionPolicy(row).inlineLimitBytes ?? configured;
}

/** Records the provider-reported input count carried by the newest event that had one. */
export function recordReportedUsage(sql: SqlStorage, inputTokens: number): void {
	sql.exec("UPDATE session SET reported_input_tokens = ?, reported_at_context = context_tokens", inputTokens);
}

export function contextSize(row: SessionRow) {
	return {
		contextTokens: row.context_tokens,
		summaryTokens: row.summary_tokens,
		reportedInputTokens: row.reported_input_tokens,
		reportedAtContext: row.reported_at_context,
	};
}

export function toSessionView(
	row: SessionRow,
	extra: Pick<Session, "lease" | "projection" | "compactions" | "deadLetters"> & { contextTokens: number },
): Session {
	return {
		id: row.id,
		forkedFrom: row.forked_from ? (JSON.parse(row.forked_from) as Session["forkedFrom"]) : null,
		status: row.status,
		agent: row.agent,
		subject: row.subject,
		parentId: row.parent_id,
		metadata: JSON.parse(row.metadata) as Record<string, Json>,
		policy: sessionPolicy(row),
		version: row.version,
		eventCount: row.event_count,
		lastSeq: row.last_seq,
		stateKeyCount: row.state_key_count,
		tokens: { total: row.tokens_total, context: extra.contextTokens, reportedInput: row.reported_input_tokens },
		compactions: extra.compactions,
		lease: extra.lease,
		projection: extra.projection,
		deadLetters: extra.deadLetters,
		paused:
			row.paused_at === null
				? null
				: {
						since: new Date(row.paused_at).toISOString(),
						reason: row.pause_reason ?? "",
						until: row.pause_until === null ? null : new Date(row.pause_until).toISOString(),
					},
		closed: row.closed_at === null ? null : { at: new Date(row.closed_at).toISOString(), reason: row.close_reason ?? "" },
		links: linksOf(row),
		createdAt: new Date(row.created_at).toISOString(),
		updatedAt: new Date(row.updated_at).toISOString(),
	};
}

/** The session's layer links, by layer name. */
export function linksOf(row: SessionRow): Record<string, string> {
	return row.links === null ? {} : (JSON.parse(row.links) as Record<string, string>);
}

/** What the D1 index keeps of the session. */
export function indexRow(row: SessionRow): SessionIndexRow {
	return {
		tenant: row.tenant,
		id: row.id,
		status: row.status,
		agent: row.agent,
		subject: row.subject,
		parentId: row.parent_id,
		version: row.version,
		eventCount: row.event_count,
		tokensTotal: row.tokens_total,
		createdAt: row.created_at,
		updatedAt: row.updated_at,
		deletedAt: row.deleted_at,
		paused: row.paused_at === null ? 0 : 1,
		contextTokens: row.context_tokens,
		modelWindow: row.status === "deleted" ? DEFAULT_MODEL_WINDOW : (sessionPolicy(row).modelWindowTokens ?? DEFAULT_MODEL_WINDOW),
	};
}

const DEFAULT_MODEL_WINDOW = 128_000;
