/**
 * `npm run bench:index [-- --quick]`: the load the cross-session index puts on D1 as a function
 * of active sessions. N sessions (spread over a few tenants) each append one event every
 * APPEND_PERIOD_S seconds; over a fixed window the counting build (bench/index/counting-index.ts)
 * reports every D1 statement and call our objects made. Prints D1 statements/s, calls/s and
 * statements per active session per second, and where one D1 database (about 1,000 queries/s)
 * would saturate at that rate and at the worst case of one drain per session per second.
 * Writes bench/results/index-latest.json. See bench/README.md, "The index at scale".
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { round } from "./load";
import { buildBundle, projectRoot, startMiniflare } from "./processes";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false } }, strict: true });
const quick = flags.quick;

/**
 * One append per session every 10 s: what two shared cores carry at N = 1,000 (100 appends/s
 * plus their drains; one every 5 s overloaded them, with 5 s append latencies). Each append
 * then drains alone, so statements per append are statements per drain.
 */
const APPEND_PERIOD_S = 10;
/** Cloudflare's D1 FAQ: one database is one SQLite primary, about 1,000 queries/s at 1 ms each. */
const D1_QUERIES_PER_SECOND = 1000;
const TENANTS = 8;
const MAX_IN_FLIGHT = 200;
const settings = quick ? { sessions: [10, 100], measureSeconds: 10 } : { sessions: [10, 100, 1000], measureSeconds: 30 };

const adminKey = `bench-admin-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-index-bench-"));
const registryDir = path.join(workDir, "dev-registry");

interface D1Totals {
	calls: number;
	statements: number;
	rowsWritten: number;
}

interface Row {
	sessions: number;
	seconds: number;
	appendsPerSecond: number;
	failedAppends: number;
	/** Appends not sent because MAX_IN_FLIGHT were still waiting: the server could not carry the load. */
	skippedAppends: number;
	appendP50Ms: number;
	d1StatementsPerSecond: number;
	d1CallsPerSecond: number;
	/** Rows D1 reports written: coalescing shares statements, every row is still written once. */
	d1RowsWrittenPerSecond: number;
	statementsPerSessionSecond: number;
	statementsPerAppend: number;
	callsPerAppend: number;
	/** Active sessions one D1 database carries at this write rate before it reaches 1,000 queries/s. */
	sessionsPerDatabase: number;
	/** The same when every session drains once a second (one write or more each second). */
	sessionsPerDatabaseAtOneDrainPerSecond: number;
	topStatements: Array<{ query: string; statements: number }>;
}

async function request(url: string, key: string, method: string, pathname: string, body?: unknown): Promise<Response> {
	return fetch(new URL(pathname, url), {
		method,
		headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
}

async function json<T>(response: Response, what: string): Promise<T> {
	const text = await response.text();
	if (!response.ok) throw new Error(`${what} answered ${response.status}: ${text}`);
	return JSON.parse(text) as T;
}

async function takeD1(url: string): Promise<{ totals: D1Totals; queries: Array<{ query: string; statements: number }> }> {
	return json(await fetch(new URL("/bench/d1", url)), "/bench/d1");
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function inBatches<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
	for (let start = 0; start < items.length; start += limit) await Promise.all(items.slice(start, start + limit).map(work));
}

async function measureLoad(url: string, keys: string[], count: number): Promise<Row> {
	const sessions = Array.from({ length: count }, (_, index) => ({ id: `load-${count}-${index}-${randomUUID().slice(0, 8)}`, key: keys[index % keys.length] }));
	await inBatches(sessions, 25, async (session) => {
		await json(await request(url, session.key, "POST", "/v1/sessions", { id: session.id }), "create");
	});
	let stopped = false;
	let failed = 0;
	let appends = 0;
	let counting = false;
	const latencies: number[] = [];
	const inFlight = new Set<Promise<void>>();
	const periodMs = APPEND_PERIOD_S * 1000;
	const begin = Date.now();
	// Each session's appends are evenly offset across the period: a steady load, no bursts.
	const due = sessions.map((_, index) => begin + (index * periodMs) / count);
	let late = 0;
	const loop = (async () => {
		let sequence = 0;
		while (!stopped) {
			const now = Date.now();
			for (let index = 0; index < count; index++) {
				if (due[index] > now) continue;
				due[index] += periodMs;
				// An overloaded server must not get an ever-growing queue: the load is offered, not forced.
				if (inFlight.size >= MAX_IN_FLIGHT) {
					if (counting) late++;
					continue;
				}
				const session = sessions[index];
				const started = performance.now();
				const body = { events: [{ type: "note", content: `steady write ${sequence++} from ${session.id}` }] };
				const call = request(url, session.key, "POST", `/v1/sessions/${session.id}/events`, body).then(
					async (response) => {
						await response.body?.cancel();
						if (!response.ok) failed++;
						if (counting) {
							appends++;
							latencies.push(performance.now() - started);
						}
					},
					() => {
						failed++;
					},
				);
				inFlight.add(call);
				void call.finally(() => inFlight.delete(call));
			}
			await delay(5);
		}
	})();
	let measured: { totals: D1Totals; queries: Array<{ query: string; statements: number }>; seconds: number };
	try {
		// Warm-up: every session has written and drained at least once, so the window sees the steady state.
		await delay(periodMs + 2000);
		await takeD1(url);
		counting = true;
		const started = performance.now();
		await delay(settings.measureSeconds * 1000);
		measured = { ...(await takeD1(url)), seconds: (performance.now() - started) / 1000 };
	} finally {
		// Also when the server stops answering: the load must not outlive the run.
		counting = false;
		stopped = true;
	}
	const { totals, queries, seconds } = measured;
	await loop;
	await Promise.all(inFlight);
	// Let the last drains finish so they stay out of the next N's window.
	await delay(3000);
	await takeD1(url);
	latencies.sort((a, b) => a - b);
	const statementsPerSecond = totals.statements / seconds;
	const perSession = statementsPerSecond / count;
	const perAppend = appends === 0 ? Number.NaN : totals.statements / appends;
	return {
		sessions: count,
		seconds: round(seconds, 1),
		appendsPerSecond: round(appends / seconds, 1),
		failedAppends: failed,
		skippedAppends: late,
		appendP50Ms: round(latencies[Math.floor(latencies.length / 2)] ?? Number.NaN, 1),
		d1StatementsPerSecond: round(statementsPerSecond, 1),
		d1CallsPerSecond: round(totals.calls / seconds, 1),
		d1RowsWrittenPerSecond: round(totals.rowsWritten / seconds, 1),
		statementsPerSessionSecond: round(perSession, 3),
		statementsPerAppend: round(perAppend, 2),
		callsPerAppend: round(appends === 0 ? Number.NaN : totals.calls / appends, 2),
		sessionsPerDatabase: Math.floor(D1_QUERIES_PER_SECOND / perSession),
		sessionsPerDatabaseAtOneDrainPerSecond: Math.floor(D1_QUERIES_PER_SECOND / perAppend),
		topStatements: queries.slice(0, 6).map(({ query, statements }) => ({ query: query.slice(0, 120), statements })),
	};
}

async function main(): Promise<void> {
	const loadAtStart = loadAverage1m();
	const scriptPath = await buildBundle(path.join(projectRoot, "wrangler.toml"), path.join(workDir, "bundle"), {
		logPath: path.join(workDir, "bundle.log"),
		registryDir,
		entry: "bench/index/counting-index.ts",
	});
	const server = await startMiniflare("ours (miniflare, counting D1)", { target: "ours", scriptPath, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "ours.log"));
	const rows: Row[] = [];
	try {
		const keys: string[] = [];
		for (let tenant = 0; tenant < TENANTS; tenant++) {
			const minted = await json<{ key: string }>(await request(server.url, adminKey, "POST", "/v1/admin/keys", { role: "writer", tenant: `bench-tenant-${tenant}` }), "mint key");
			keys.push(minted.key);
		}
		for (const count of settings.sessions) {
			const row = await measureLoad(server.url, keys, count);
			rows.push(row);
			console.log(
				`N=${row.sessions}: ${row.appendsPerSecond} appends/s (${row.failedAppends} failed, ${row.skippedAppends} skipped, p50 ${row.appendP50Ms} ms) → D1 ${row.d1StatementsPerSecond} statements/s in ${row.d1CallsPerSecond} calls/s; ` +
					`${row.statementsPerSessionSecond} statements per session per second, ${row.statementsPerAppend} per append; one D1 saturates at ${row.sessionsPerDatabase} sessions (${row.sessionsPerDatabaseAtOneDrainPerSecond} at one drain/s each)`,
			);
		}
	} finally {
		await server.stop();
	}
	const result = {
		ranAt: new Date().toISOString(),
		quick,
		appendPeriodSeconds: APPEND_PERIOD_S,
		tenants: TENANTS,
		d1QueriesPerSecond: D1_QUERIES_PER_SECOND,
		machine: machine(loadAtStart),
		code: codeVersion(),
		rows,
	};
	writeAtomically(path.join(projectRoot, "bench/results/index-latest.json"), `${JSON.stringify(result, null, 2)}\n`);
	if (rows.some((row) => row.failedAppends > 0)) throw new Error("some appends failed: the figures are not the load intended");
}

await runMain(main, workDir);
