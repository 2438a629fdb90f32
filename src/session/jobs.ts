/**
 * Background jobs multiplexed on the object's single alarm. Each job has one row with its
 * next due time; the alarm is always armed for the earliest. Alarms are at-least-once, so
 * every job must be safe to run twice.
 */
export type JobName = "drain_outbox" | "forget_idempotency" | "compact";

export interface JobRow {
	name: JobName;
	due_at: number;
	attempts: number;
	last_error: string | null;
}

type Row = JobRow & Record<string, SqlStorageValue>;

const MAX_BACKOFF_MS = 5 * 60 * 1000;
const BASE_BACKOFF_MS = 500;

/** Makes the job due at `dueAt` unless it is already due earlier or waiting out a backoff. */
export function ensureScheduled(sql: SqlStorage, name: JobName, dueAt: number): void {
	sql.exec(
		`INSERT INTO jobs (name, due_at) VALUES (?, ?)
		 ON CONFLICT (name) DO UPDATE SET due_at = min(due_at, excluded.due_at) WHERE attempts = 0`,
		name,
		dueAt,
	);
}

export function earliestDue(sql: SqlStorage): number | null {
	return sql.exec<{ due: number | null }>("SELECT min(due_at) AS due FROM jobs").one().due;
}

/**
 * Jobs to run now. The alarm was armed for the earliest due time, so that job counts as due
 * even if the alarm fires early (as tests do with runDurableObjectAlarm).
 */
export function dueJobs(sql: SqlStorage, now: number): JobRow[] {
	const horizon = Math.max(now, earliestDue(sql) ?? now);
	return sql.exec<Row>("SELECT * FROM jobs WHERE due_at <= ? ORDER BY due_at", horizon).toArray();
}

export function complete(sql: SqlStorage, name: JobName): void {
	sql.exec("DELETE FROM jobs WHERE name = ?", name);
}

/** Records a failure and pushes the job back with capped exponential backoff and jitter. */
export function retryLater(sql: SqlStorage, job: JobRow, error: string, now: number): number {
	const attempts = job.attempts + 1;
	const backoff = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.min(attempts - 1, 20));
	const dueAt = now + backoff / 2 + Math.random() * (backoff / 2);
	sql.exec("UPDATE jobs SET due_at = ?, attempts = ?, last_error = ? WHERE name = ?", dueAt, attempts, error.slice(0, 500), job.name);
	return dueAt;
}

export function lastError(sql: SqlStorage, name: JobName): string | null {
	return sql.exec<{ last_error: string | null }>("SELECT last_error FROM jobs WHERE name = ?", name).toArray()[0]?.last_error ?? null;
}

export function clearAll(sql: SqlStorage): void {
	sql.exec("DELETE FROM jobs");
}
