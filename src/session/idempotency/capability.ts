import type { Capability } from "../kernel/capability";
import * as timers from "../kernel/timers";
import { FORGET_TIMER, forgetExpired, IDEMPOTENCY_RETENTION_MS } from "./idempotency";

/** Remembered responses of writes that carried an Idempotency-Key, forgotten after 24 h unless kept for the session's life. */
export const idempotency: Capability = {
	name: "idempotency",
	migrations: [
		[
			`CREATE TABLE idempotency (
				key TEXT PRIMARY KEY,
				fingerprint TEXT NOT NULL,
				response TEXT NOT NULL,
				created_at INTEGER NOT NULL
			) WITHOUT ROWID`,
			"CREATE INDEX idempotency_by_age ON idempotency (created_at)",
		],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		[],
		// Keys kept as long as the session lives (Idempotency-Retention: session): a framework's operation ids.
		["ALTER TABLE idempotency ADD COLUMN kept INTEGER NOT NULL DEFAULT 0"],
	],
	contentTables: ["idempotency"],
	timers: {
		[FORGET_TIMER]: async ({ kernel, sql }, run) => {
			kernel.transaction(() => {
				forgetExpired(sql, Date.now());
				timers.complete(sql, run);
				const oldest = sql.exec<{ at: number | null }>("SELECT min(created_at) AS at FROM idempotency WHERE kept = 0").one().at;
				if (oldest !== null) timers.schedule(sql, FORGET_TIMER, "", oldest + IDEMPOTENCY_RETENTION_MS);
			});
		},
	},
};
