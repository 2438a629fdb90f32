/**
 * Keyed timers, multiplexed on the object's one alarm: (kind, key) → due time. Many timers
 * of one kind can wait at once (one per approval, per step, ...), and the alarm is always
 * armed for the earliest.
 *
 * Invariants:
 * - A timer is completed in the transaction of the work it stands for, never before: a run
 *   that fails or crashes leaves the timer in place to run again (alarms are at-least-once).
 * - A run claims its timer first with a token (due pushed ahead by CLAIM_MS), so two runs
 *   never overlap and only the claiming run completes or fails it; a new instance of the
 *   object releases claims its dead predecessor held, counting that run as a failed attempt.
 * - Every schedule() gives the row a new random `rev`. Completion deletes the row only if its
 *   rev is still the one the run started with; otherwise work was requested during the run
 *   and the timer stays, due when that request asked (kept aside in requested_at while the
 *   run holds the row, so a run never makes the next one early or late).
 * - A failed run is retried with capped, jittered backoff; after MAX_ATTEMPTS it is parked as
 *   a dead letter (reported by GET /v1/sessions/:id) until a new schedule() revives it.
 */
export interface TimerRow {
	kind: string;
	key: string;
	due_at: number;
	rev: number;
	attempts: number;
	/** 0, or the token of the run that holds the timer. */
	claimed: number;
	/** While claimed: the earliest time asked for by schedule() calls during the run. */
	requested_at: number | null;
	last_error: string | null;
	parked_at: number | null;
}

/** One run of a timer, as its handler sees it. */
export interface TimerRun {
	kind: string;
	key: string;
	rev: number;
	attempts: number;
	/** This run's claim: only the run holding it may complete or fail the timer. */
	claim: number;
	/** Set once the run's work committed and completed the timer in the same transaction. */
	completed: boolean;
}

type Row = TimerRow & Record<string, SqlStorageValue>;

export const TIMER_MIGRATIONS = [
	`CREATE TABLE timers (
		kind TEXT NOT NULL,
		key TEXT NOT NULL,
		due_at INTEGER NOT NULL,
		rev INTEGER NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		claimed INTEGER NOT NULL DEFAULT 0,
		requested_at INTEGER,
		last_error TEXT,
		parked_at INTEGER,
		PRIMARY KEY (kind, key)
	) WITHOUT ROWID`,
	"CREATE INDEX timers_due ON timers (due_at) WHERE parked_at IS NULL",
	// The name-keyed jobs of the first schema become keyed timers; their work is re-derived.
	"INSERT INTO timers (kind, key, due_at, rev) SELECT name, '', due_at, 1 FROM jobs",
	"DROP TABLE jobs",
];

/** How long a run holds its claim; a crash mid-run delays the timer by at most this. */
const CLAIM_MS = 60_000;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5 * 60 * 1000;
export const MAX_ATTEMPTS = 10;

function newRev(): number {
	return Math.floor(Math.random() * 2 ** 52) + 1;
}

/**
 * Asks for a run at `dueAt` (or earlier, if one is already due sooner). A timer waiting out
 * a backoff keeps its backoff; a parked one is revived with a fresh attempt count.
 */
export function schedule(sql: SqlStorage, kind: string, key: string, dueAt: number): void {
	sql.exec(
		`INSERT INTO timers (kind, key, due_at, rev) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, key) DO UPDATE SET
			rev = excluded.rev,
			requested_at = CASE WHEN claimed != 0 THEN min(coalesce(requested_at, excluded.due_at), excluded.due_at) ELSE NULL END,
			due_at = CASE WHEN claimed != 0 THEN due_at WHEN parked_at IS NOT NULL THEN excluded.due_at
				WHEN attempts = 0 THEN min(due_at, excluded.due_at) ELSE due_at END,
			attempts = CASE WHEN parked_at IS NOT NULL THEN 0 ELSE attempts END,
			parked_at = NULL`,
		kind,
		key,
		dueAt,
		newRev(),
	);
}

/**
 * Asks for a run at `dueAt` unless the timer is already waiting (or running, or backing off):
 * for work a run finds by itself (the outbox drain reads every row there is), so a write need
 * not touch the timer row again. A parked timer is revived, as by schedule().
 */
export function ensureScheduled(sql: SqlStorage, kind: string, key: string, dueAt: number): void {
	sql.exec(
		`INSERT INTO timers (kind, key, due_at, rev) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at, rev = excluded.rev, attempts = 0, parked_at = NULL
		 WHERE parked_at IS NOT NULL`,
		kind,
		key,
		dueAt,
		newRev(),
	);
}

/**
 * As ensureScheduled, and brings a waiting timer forward to `dueAt` if it was due later; a
 * running one (it finds the new work itself), or one backing off, is left alone. Only that
 * move writes the timer row.
 */
export function ensureScheduledBy(sql: SqlStorage, kind: string, key: string, dueAt: number): void {
	sql.exec(
		`INSERT INTO timers (kind, key, due_at, rev) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at, rev = excluded.rev, attempts = 0, parked_at = NULL
		 WHERE parked_at IS NOT NULL OR (claimed = 0 AND attempts = 0 AND due_at > excluded.due_at)`,
		kind,
		key,
		dueAt,
		newRev(),
	);
}

/** Drops a timer whose work no longer exists (a decided approval, a deleted session). */
export function cancel(sql: SqlStorage, kind: string, key: string): void {
	sql.exec("DELETE FROM timers WHERE kind = ? AND key = ?", kind, key);
}

/** Drops every timer no run holds; a held one finishes its run and completes (its rev moved on). */
export function cancelIdle(sql: SqlStorage): void {
	sql.exec("DELETE FROM timers WHERE claimed = 0");
}

/** The earliest time the alarm must fire for, or null when nothing waits. */
export function earliestDue(sql: SqlStorage): number | null {
	return sql.exec<{ due: number | null }>("SELECT min(due_at) AS due FROM timers WHERE parked_at IS NULL").one().due;
}

/**
 * Timers to run now. The alarm was armed for the earliest due time, so that one counts as
 * due even when the alarm fires early (tests fire it on demand).
 */
export function dueTimers(sql: SqlStorage, now: number): TimerRow[] {
	return sql.exec<Row>("SELECT * FROM timers WHERE parked_at IS NULL AND claimed = 0 AND due_at <= ? ORDER BY due_at", horizon(sql, now)).toArray();
}

function horizon(sql: SqlStorage, now: number): number {
	return Math.max(now, sql.exec<{ due: number | null }>("SELECT min(due_at) AS due FROM timers WHERE parked_at IS NULL AND claimed = 0").one().due ?? now);
}

/**
 * Claims a timer that is still due for one run; null if another run got it first or it was
 * pushed back meanwhile (a failed run's backoff).
 */
export function claim(sql: SqlStorage, row: TimerRow, now: number): TimerRun | null {
	const token = newRev();
	const claimed = sql
		.exec<{ rev: number; attempts: number }>(
			`UPDATE timers SET claimed = ?, due_at = ? WHERE kind = ? AND key = ? AND claimed = 0 AND parked_at IS NULL AND due_at <= ?
			 RETURNING rev, attempts`,
			token,
			now + CLAIM_MS,
			row.kind,
			row.key,
			horizon(sql, now),
		)
		.toArray()[0];
	if (!claimed) return null;
	return { kind: row.kind, key: row.key, rev: claimed.rev, attempts: claimed.attempts, claim: token, completed: false };
}

/**
 * Completes a run; call inside the transaction of its work. If the timer was scheduled again
 * during the run it stays, unclaimed and due when that request asked.
 */
export function complete(sql: SqlStorage, run: TimerRun): void {
	const deleted = sql.exec("DELETE FROM timers WHERE kind = ? AND key = ? AND rev = ?", run.kind, run.key, run.rev).rowsWritten;
	if (deleted === 0) {
		sql.exec(
			`UPDATE timers SET claimed = 0, attempts = 0, last_error = NULL, due_at = coalesce(requested_at, due_at), requested_at = NULL
			 WHERE kind = ? AND key = ? AND claimed = ?`,
			run.kind,
			run.key,
			run.claim,
		);
	}
	run.completed = true;
}

/** Records a failed run: retried after a jittered backoff, or parked after MAX_ATTEMPTS. */
export function fail(sql: SqlStorage, run: TimerRun, error: string, now: number): { retryAt: number | null } {
	const attempts = run.attempts + 1;
	const message = error.slice(0, 500);
	if (attempts >= MAX_ATTEMPTS) {
		sql.exec(
			"UPDATE timers SET claimed = 0, requested_at = NULL, attempts = ?, last_error = ?, parked_at = ? WHERE kind = ? AND key = ? AND claimed = ?",
			attempts,
			message,
			now,
			run.kind,
			run.key,
			run.claim,
		);
		return { retryAt: null };
	}
	const backoff = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempts - 1));
	const retryAt = Math.round(now + backoff / 2 + Math.random() * (backoff / 2));
	sql.exec(
		"UPDATE timers SET claimed = 0, requested_at = NULL, attempts = ?, last_error = ?, due_at = ? WHERE kind = ? AND key = ? AND claimed = ?",
		attempts,
		message,
		retryAt,
		run.kind,
		run.key,
		run.claim,
	);
	return { retryAt };
}

/**
 * A new instance runs nothing yet: claims of the instance before it died are released, and
 * the run it died in counts as a failed attempt, so a handler that kills the isolate is
 * parked after MAX_ATTEMPTS instead of retried forever.
 */
export function releaseStaleClaims(sql: SqlStorage, now: number): void {
	sql.exec(
		`UPDATE timers SET claimed = 0, requested_at = NULL, attempts = attempts + 1, due_at = min(due_at, ?),
			last_error = coalesce(last_error, 'the object restarted during this run'),
			parked_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE NULL END
		 WHERE claimed != 0`,
		now,
		MAX_ATTEMPTS,
		now,
	);
}

export function lastError(sql: SqlStorage, kind: string, key = ""): string | null {
	return sql.exec<{ last_error: string | null }>("SELECT last_error FROM timers WHERE kind = ? AND key = ?", kind, key).toArray()[0]?.last_error ?? null;
}

export function pending(sql: SqlStorage, kind: string): number {
	return sql.exec<{ n: number }>("SELECT count(*) AS n FROM timers WHERE kind = ?", kind).one().n;
}

/** Dead letters: timers that failed MAX_ATTEMPTS times in a row. */
export function parked(sql: SqlStorage): TimerRow[] {
	return sql.exec<Row>("SELECT * FROM timers WHERE parked_at IS NOT NULL ORDER BY parked_at").toArray();
}

/** Revives parked timers of these kinds, due now: work that must finish (an erasure) retries them. */
export function revive(sql: SqlStorage, kinds: readonly string[], now: number): void {
	sql.exec(
		`UPDATE timers SET parked_at = NULL, attempts = 0, due_at = ? WHERE parked_at IS NOT NULL AND kind IN (${kinds.map(() => "?").join(", ")})`,
		now,
		...kinds,
	);
}
