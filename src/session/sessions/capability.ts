import type { Capability } from "../kernel/capability";
import { RESUME_TIMER, resumeWhenDue } from "./pause";

/** The session row: identity, counters, policy and the session version (session-row.ts). */
export const sessions: Capability = {
	name: "sessions",
	migrations: [
		[
			`CREATE TABLE session (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				id TEXT NOT NULL,
				tenant TEXT NOT NULL,
				status TEXT NOT NULL,
				agent TEXT,
				subject TEXT,
				parent_id TEXT,
				metadata TEXT NOT NULL,
				policy TEXT NOT NULL,
				version INTEGER NOT NULL,
				last_seq INTEGER NOT NULL,
				event_count INTEGER NOT NULL,
				state_key_count INTEGER NOT NULL,
				tokens_total INTEGER NOT NULL,
				created_at INTEGER NOT NULL,
				updated_at INTEGER NOT NULL,
				deleted_at INTEGER
			)`,
		],
		[
			"ALTER TABLE session ADD COLUMN reported_input_tokens INTEGER",
			"ALTER TABLE session ADD COLUMN reported_at_context INTEGER",
			"ALTER TABLE session ADD COLUMN context_tokens INTEGER NOT NULL DEFAULT 0",
			"ALTER TABLE session ADD COLUMN summary_tokens INTEGER NOT NULL DEFAULT 0",
			"ALTER TABLE session ADD COLUMN last_compaction_at INTEGER",
			"ALTER TABLE session ADD COLUMN forked_from TEXT",
			"UPDATE session SET context_tokens = (SELECT coalesce(sum(tokens), 0) FROM events)",
		],
		[],
		// Pause and resume: agent writes are refused while paused_at is set.
		["ALTER TABLE session ADD COLUMN paused_at INTEGER", "ALTER TABLE session ADD COLUMN pause_reason TEXT", "ALTER TABLE session ADD COLUMN pause_until INTEGER"],
		[],
		// Closing (a subagent's session once it has answered or timed out) and layer links.
		["ALTER TABLE session ADD COLUMN closed_at INTEGER", "ALTER TABLE session ADD COLUMN close_reason TEXT", "ALTER TABLE session ADD COLUMN links TEXT"],
	],
	timers: { [RESUME_TIMER]: resumeWhenDue },
};
