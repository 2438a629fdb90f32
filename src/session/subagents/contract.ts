/** The subagent table (capability.ts): one row in a child session, none elsewhere. */
import type { Json } from "../../schemas/common";
import type { Subagent, SubagentOutcome, SubagentStatus } from "../../schemas/subagents";
import type { SessionRow } from "../sessions/session-row";

export interface ContractRow {
	parent_id: string;
	task: string;
	result_schema: string;
	max_result_tokens: number;
	deadline: number;
	status: SubagentStatus;
	result: string | null;
	result_tokens: number | null;
	finished_at: number | null;
	reported_at: number | null;
	report_attempts: number;
}

export interface NewContract {
	parentId: string;
	task: string;
	resultSchema: Json;
	maxResultTokens: number;
	deadline: number;
}

export function readContract(sql: SqlStorage): ContractRow | null {
	return sql.exec<ContractRow & Record<string, SqlStorageValue>>("SELECT * FROM subagent").toArray()[0] ?? null;
}

export function insertContract(sql: SqlStorage, contract: NewContract): void {
	sql.exec(
		"INSERT INTO subagent (singleton, parent_id, task, result_schema, max_result_tokens, deadline, status) VALUES (1, ?, ?, ?, ?, ?, 'running')",
		contract.parentId,
		contract.task,
		JSON.stringify(contract.resultSchema),
		contract.maxResultTokens,
		contract.deadline,
	);
}

/** Ends the contract and closes the session: from now on only the service writes to it. */
export function finishContract(sql: SqlStorage, finish: { status: Exclude<SubagentStatus, "running">; result?: Json; resultTokens?: number }, now: number): void {
	sql.exec(
		"UPDATE subagent SET status = ?, result = ?, result_tokens = ?, finished_at = ?",
		finish.status,
		finish.result === undefined ? null : JSON.stringify(finish.result),
		finish.resultTokens ?? null,
		now,
	);
	sql.exec("UPDATE session SET closed_at = ?, close_reason = ?", now, finish.status);
}

export function toSubagent(contract: ContractRow, row: SessionRow): Subagent {
	const view: Subagent = {
		id: row.id,
		parentId: contract.parent_id,
		agent: row.agent,
		task: contract.task,
		status: contract.status,
		maxResultTokens: contract.max_result_tokens,
		deadline: new Date(contract.deadline).toISOString(),
		resultTokens: contract.result_tokens,
		finishedAt: contract.finished_at === null ? null : new Date(contract.finished_at).toISOString(),
		version: row.version,
	};
	if (contract.result !== null) view.result = JSON.parse(contract.result) as Json;
	return view;
}

/** What the parent is told; null while the child is still running. */
export function outcomeOf(contract: ContractRow, row: SessionRow): SubagentOutcome | null {
	if (contract.status === "running") return null;
	const outcome: SubagentOutcome = {
		childId: row.id,
		agent: row.agent,
		task: contract.task,
		status: contract.status,
		resultTokens: contract.result_tokens,
		finishedAt: new Date(contract.finished_at ?? row.updated_at).toISOString(),
		childVersion: row.version,
	};
	if (contract.result !== null) outcome.result = JSON.parse(contract.result) as Json;
	return outcome;
}
