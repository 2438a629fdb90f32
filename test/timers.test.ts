/**
 * The keyed timer table's rules, run on a real object's SQLite (the table is created by the
 * object's own migrations).
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import * as timers from "../src/session/kernel/timers";
import { createSession, sessionObject } from "./helpers";

async function withTimers<T>(body: (sql: SqlStorage) => T): Promise<T> {
	const id = await createSession();
	return runInDurableObject(sessionObject(id), (_instance, state) => body(state.storage.sql));
}

const row = (sql: SqlStorage, kind: string, key = "") =>
	sql.exec<timers.TimerRow & Record<string, SqlStorageValue>>("SELECT * FROM timers WHERE kind = ? AND key = ?", kind, key).toArray()[0] ?? null;

describe("keyed timers", () => {
	it("keeps many timers of one kind apart by key, and arms for the earliest", async () => {
		await withTimers((sql) => {
			timers.schedule(sql, "approval_deadline", "a-1", 5000);
			timers.schedule(sql, "approval_deadline", "a-2", 3000);
			timers.schedule(sql, "approval_deadline", "a-1", 9000);
			expect(row(sql, "approval_deadline", "a-1")?.due_at).toBe(5000);
			expect(timers.earliestDue(sql)).toBeLessThanOrEqual(3000);
			timers.cancel(sql, "approval_deadline", "a-2");
			expect(row(sql, "approval_deadline", "a-2")).toBeNull();
		});
	});

	it("completes a run only if nothing asked for the timer during it, and then keeps the time that was asked for", async () => {
		await withTimers((sql) => {
			const now = 1_000_000;
			timers.schedule(sql, "t", "", now);
			const first = timers.claim(sql, row(sql, "t") as timers.TimerRow, now) as timers.TimerRun;
			timers.complete(sql, first);
			expect(row(sql, "t")).toBeNull();

			timers.schedule(sql, "t", "", now);
			const second = timers.claim(sql, row(sql, "t") as timers.TimerRow, now) as timers.TimerRun;
			expect(timers.claim(sql, row(sql, "t") as timers.TimerRow, now)).toBeNull();
			timers.schedule(sql, "t", "", now + 24 * 3600_000);
			timers.complete(sql, second);
			expect(row(sql, "t")).toMatchObject({ claimed: 0, due_at: now + 24 * 3600_000, requested_at: null });
		});
	});

	it("lets only the claiming run complete or fail its timer", async () => {
		await withTimers((sql) => {
			timers.schedule(sql, "t", "", 1000);
			const run = timers.claim(sql, row(sql, "t") as timers.TimerRow, 1000) as timers.TimerRun;
			timers.schedule(sql, "t", "", 1000);
			timers.fail(sql, { ...run, claim: run.claim + 1 }, "not mine", 1000);
			timers.complete(sql, { ...run, claim: run.claim + 1 });
			expect(row(sql, "t")?.claimed).toBe(run.claim);
		});
	});

	it("backs off after failures, parks after 10, and a new schedule revives it", async () => {
		await withTimers((sql) => {
			let now = 1000;
			timers.schedule(sql, "t", "", now);
			for (let attempt = 1; attempt <= timers.MAX_ATTEMPTS; attempt++) {
				const current = row(sql, "t") as timers.TimerRow;
				now = Math.max(now, current.due_at);
				const run = timers.claim(sql, current, now) as timers.TimerRun;
				const { retryAt } = timers.fail(sql, run, `failure ${attempt}`, now);
				if (attempt < timers.MAX_ATTEMPTS) expect(retryAt).toBeGreaterThan(now);
				else expect(retryAt).toBeNull();
			}
			expect(timers.parked(sql)).toMatchObject([{ kind: "t", attempts: 10, last_error: "failure 10" }]);
			expect(timers.dueTimers(sql, Number.MAX_SAFE_INTEGER).filter((timer) => timer.kind === "t")).toEqual([]);
			timers.schedule(sql, "t", "", now);
			expect(row(sql, "t")).toMatchObject({ parked_at: null, attempts: 0 });
		});
	});

	it("counts a run the object died in as an attempt when the next instance starts", async () => {
		await withTimers((sql) => {
			timers.schedule(sql, "t", "", 1000);
			timers.claim(sql, row(sql, "t") as timers.TimerRow, 1000);
			timers.releaseStaleClaims(sql, 2000);
			expect(row(sql, "t")).toMatchObject({ claimed: 0, attempts: 1, due_at: 2000 });
		});
	});

	it("ensureScheduled leaves a waiting timer untouched and revives a parked one", async () => {
		await withTimers((sql) => {
			timers.ensureScheduled(sql, "d", "", 5000);
			const waiting = row(sql, "d") as timers.TimerRow;
			timers.ensureScheduled(sql, "d", "", 1000);
			expect(row(sql, "d")).toMatchObject({ due_at: 5000, rev: waiting.rev });
			sql.exec("UPDATE timers SET parked_at = 1, attempts = 10 WHERE kind = 'd'");
			timers.ensureScheduled(sql, "d", "", 7000);
			expect(row(sql, "d")).toMatchObject({ parked_at: null, attempts: 0, due_at: 7000 });
		});
	});
});
