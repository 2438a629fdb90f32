import type { Capability } from "../kernel/capability";
import { DEADLINE_TIMER, REPORT_TIMER, reportToParent, timeOutWhenDue } from "./timers";

/**
 * Subagents: a child session's contract with the parent that started it (task, result
 * schema, size limit, deadline), its deadline timer, and the report of its outcome to the
 * parent, retried until the parent has it.
 */
export const subagents: Capability = {
	name: "subagents",
	migrations: [
		[],
		[],
		[],
		[],
		[],
		[
			`CREATE TABLE subagent (
				singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
				parent_id TEXT NOT NULL,
				task TEXT NOT NULL,
				result_schema TEXT NOT NULL,
				max_result_tokens INTEGER NOT NULL,
				deadline INTEGER NOT NULL,
				status TEXT NOT NULL,
				result TEXT,
				result_tokens INTEGER,
				finished_at INTEGER,
				reported_at INTEGER,
				report_attempts INTEGER NOT NULL DEFAULT 0
			)`,
		],
	],
	contentTables: ["subagent"],
	timers: { [DEADLINE_TIMER]: timeOutWhenDue, [REPORT_TIMER]: reportToParent },
};
