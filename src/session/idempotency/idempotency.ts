/**
 * Remembered responses of writes that carried an Idempotency-Key. The record is written in the
 * same transaction as the write, so a retry either finds it (and gets the first response back)
 * or finds no trace of the write at all.
 */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;
export const FORGET_TIMER = "forget_idempotency";

export type Remembered = { kind: "replay"; response: unknown } | { kind: "mismatch" } | { kind: "new" };

export function recall(sql: SqlStorage, key: string, fingerprint: string, now: number): Remembered {
	const row = sql
		.exec<{ fingerprint: string; response: string }>(
			"SELECT fingerprint, response FROM idempotency WHERE key = ? AND (kept = 1 OR created_at > ?)",
			key,
			now - IDEMPOTENCY_RETENTION_MS,
		)
		.toArray()[0];
	if (!row) return { kind: "new" };
	if (row.fingerprint !== fingerprint) return { kind: "mismatch" };
	return { kind: "replay", response: JSON.parse(row.response) };
}

/** `kept`: remembered as long as the session lives, not 24 hours (Idempotency-Retention: session). */
export function remember(sql: SqlStorage, key: string, fingerprint: string, response: unknown, now: number, kept: boolean): void {
	sql.exec(
		"INSERT OR REPLACE INTO idempotency (key, fingerprint, response, created_at, kept) VALUES (?, ?, ?, ?, ?)",
		key,
		fingerprint,
		JSON.stringify(response),
		now,
		kept ? 1 : 0,
	);
}

/** Forgets keys past the retention window; returns how many were dropped. */
export function forgetExpired(sql: SqlStorage, now: number): number {
	return sql.exec("DELETE FROM idempotency WHERE kept = 0 AND created_at <= ?", now - IDEMPOTENCY_RETENTION_MS).rowsWritten;
}

/** A stable digest of what a write asked for, to tell a true retry from a reused key. */
export async function fingerprintOf(operation: string, input: unknown): Promise<string> {
	const bytes = new TextEncoder().encode(`${operation}\n${JSON.stringify(input)}`);
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return btoa(String.fromCharCode(...new Uint8Array(digest)));
}
