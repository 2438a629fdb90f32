/**
 * `npm run bench:sessions [-- --quick]`: state lookups and context windows under a load spread
 * over many sessions, not one hot session. Seeds 1,000 sessions (each with state and events,
 * so a window has something to assemble), then for 10, 100 and 1,000 of them loads
 * `GET …/state/{ns}/{key}` and `GET …/context?budget=N`, each request going to the next
 * session round-robin; right after each, the same load on one hot session, on the same host,
 * as the baseline; for state gets, the same spread load on the bare floor (bench/floor/), which
 * has the same objects and keys but no auth, audit or logging. Every session count starts on
 * freshly started hosts, so the first request
 * to each object pays its start-up: that first touch is reported apart, and the load runs
 * after it, with the objects kept in memory (see MiniflareHostConfig.preventEviction). The
 * Worker is the `wrangler deploy --dry-run` bundle served by Miniflare on 127.0.0.1 (the mode
 * that measures the code; see bench/README.md). Writes bench/results/sessions-latest.json.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { table } from "./context-server";
import { codeVersion, loadAverage1m, machine, packageVersion, runMain, writeAtomically } from "./harness";
import { call, type Measurement, measure, projectionCatchUp, type RequestSpec, type Target } from "./load";
import { buildBundle, type MiniflareServer, projectRoot, startMiniflare } from "./processes";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false } }, strict: true });
const quick = flags.quick;

/** --quick leaves out 1,000 sessions: seeding them is most of a full run's time. */
const settings = quick
	? { sessions: [10, 100], concurrency: [10], warmupSeconds: 0.5, measureSeconds: 2 }
	: { sessions: [10, 100, 1000], concurrency: [10, 32], warmupSeconds: 2, measureSeconds: 10 };

/** What each seeded session holds: about what an agent's working session carries. */
const SEED = { namespaces: ["progress", "findings", "prefs"], keysPerNamespace: 10, events: 100, budget: 2000 };
/** Sessions seeded at once; each is seeded request after request, as one agent would. */
const SEED_PARALLEL = 8;
/** The audit's target: "sub-100 ms at p95 with 10+ concurrent conversations". */
const TARGET_P95_MS = 100;
/** The first-touch pass runs at the target's concurrency: ten conversations starting at once. */
const FIRST_TOUCH_CONCURRENCY = 10;

const adminKey = `bench-sessions-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-sessions-"));
const persistDir = path.join(workDir, "state");
const floorPersistDir = path.join(workDir, "floor-state");
const loadAtStart = loadAverage1m();

const sessionId = (index: number) => `load-${String(index).padStart(4, "0")}`;
const sessionPath = (index: number, rest: string) => `/v1/sessions/${sessionId(index)}${rest}`;
const keyCount = SEED.namespaces.length * SEED.keysPerNamespace;
/** The n-th key of a session: namespaces in turn, then the key within it. */
const keyPath = (n: number) => `/state/${SEED.namespaces[n % SEED.namespaces.length]}/k${Math.floor(n / SEED.namespaces.length) % SEED.keysPerNamespace}`;

/** A session as an agent leaves it: a conversation of ~150-byte messages and 30 small JSON values. */
async function seedSession(target: Target, index: number): Promise<void> {
	await call(target, "POST", "/v1/sessions", { id: sessionId(index) });
	const events = Array.from({ length: SEED.events }, (_, turn) => ({
		type: "message",
		role: turn % 2 === 0 ? "user" : "assistant",
		content: `Session ${index}, turn ${turn}: read page ${turn} of the CRDT survey; state-based and operation-based designs differ in what each merge costs.`,
	}));
	await call(target, "POST", sessionPath(index, "/events"), { events });
	for (let n = 0; n < keyCount; n++) {
		await call(target, "PUT", sessionPath(index, keyPath(n)), { value: { step: n, url: `https://example.com/crdt/${index}/${n}`, findings: [`claim ${n}`, `source ${index}`] } });
	}
	// Projection work left behind would otherwise land in the first measurement.
	await projectionCatchUp(target, sessionId(index));
}

/** The floor's copy: the same 30 keys and values (it has no sessions or events to create). */
async function seedFloorSession(target: Target, index: number): Promise<void> {
	for (let n = 0; n < keyCount; n++) {
		await call(target, "PUT", sessionPath(index, keyPath(n)), { value: { step: n, url: `https://example.com/crdt/${index}/${n}`, findings: [`claim ${n}`, `source ${index}`] } });
	}
}

async function seed(target: Target, sessions: number): Promise<number> {
	const started = performance.now();
	let next = 0;
	const seedOne = target.role === "floor" ? seedFloorSession : seedSession;
	const worker = async () => {
		for (let index = next++; index < sessions; index = next++) await seedOne(target, index);
	};
	await Promise.all(Array.from({ length: SEED_PARALLEL }, worker));
	return (performance.now() - started) / 1000;
}

type Operation = "state-get" | "context";
const operations: Record<Operation, (index: number, turn: number) => string> = {
	"state-get": (index, turn) => sessionPath(index, keyPath(turn)),
	context: (index) => sessionPath(index, `/context?budget=${SEED.budget}`),
};

/** Each request goes to the next of `sessions` sessions in turn (and, for state, the next key of it). */
function spread(operation: Operation, sessions: number): RequestSpec {
	let sent = 0;
	const pathOf = operations[operation];
	return {
		method: "GET",
		path: pathOf(0, 0),
		next: () => {
			const n = sent++;
			return { path: pathOf(n % sessions, Math.floor(n / sessions)) };
		},
	};
}

/** CPU time and resident memory of the host's whole process group (Miniflare's node and its workerd), from /proc. */
function groupUsage(pgid: number): { cpuSeconds: number; rssMiB: number } {
	let ticks = 0;
	let pages = 0;
	for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
		let stat: string;
		try {
			stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		} catch {
			continue; // Exited since the listing.
		}
		// The fields after the command name, which may hold spaces: state, ppid, pgrp, … utime (11), stime (12), … rss (21).
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		if (Number(fields[2]) !== pgid) continue;
		ticks += Number(fields[11]) + Number(fields[12]);
		pages += Number(fields[21]);
	}
	// Linux reports CPU time in USER_HZ (100 per second) and memory in 4 KiB pages.
	return { cpuSeconds: ticks / 100, rssMiB: Math.round((pages * 4096) / 2 ** 20) };
}

/**
 * How long the host keeps working after a load stops, in seconds: every read records an audit
 * row and arms its session's projection drain 1 s later, so a load leaves work behind in each
 * session it touched. Waits for it (the CPU of the host's group below a tenth of a core over
 * 250 ms, after at least 1.5 s), so that it lands in no later measurement.
 */
async function settle(pgid: number): Promise<number> {
	const stopped = performance.now();
	let last = groupUsage(pgid).cpuSeconds;
	for (;;) {
		await delay(250);
		const now = groupUsage(pgid).cpuSeconds;
		const elapsed = (performance.now() - stopped) / 1000;
		if ((elapsed >= 1.5 && now - last < 0.025) || elapsed > 120) return Number(elapsed.toFixed(2));
		last = now;
	}
}

interface FirstTouch {
	sessions: number;
	concurrency: number;
	/** The first request to each session's object, state-get: object start-up included. */
	stateGet: Measurement;
	/** Then each session's first window, on a warm object. */
	context: Measurement;
	/** The floor's first state get of each of its objects. */
	floorStateGet: Measurement;
	hostStartMs: number;
	/** After the load, with every object of the run in memory. */
	hostRssMiB: number;
	/** The machine's 1-minute load average after the load: other work on it skews the figures. */
	loadAverage1m: number;
}

interface Row {
	sessions: number;
	operation: Operation;
	concurrency: number;
	measured: Measurement;
	/** The same load on one session, measured right after on the same host. */
	hot: Measurement;
	/** State gets only: the same spread load on the floor. */
	floor: Measurement | null;
	/** How long the host kept working after each load (see settle). */
	busyAfterSeconds: { spread: number; hot: number };
	targetMet: boolean;
}

const failures = (m: Measurement) => m.non2xx + m.errors + m.timeouts;
const rowFailures = (row: Row) => failures(row.measured) + failures(row.hot) + (row.floor ? failures(row.floor) : 0);

interface Bundles {
	ours: string;
	floor: string;
}

/** One session count on freshly started hosts: the first touch of each object, then the load. */
async function runSessions(bundles: Bundles, key: string, sessions: number): Promise<{ firstTouch: FirstTouch; rows: Row[] }> {
	const start = (role: "ours" | "floor") =>
		startMiniflare(
			`${role} (miniflare)`,
			{ target: role, scriptPath: bundles[role], persistDir: role === "ours" ? persistDir : floorPersistDir, adminKey, preventEviction: true },
			path.join(workDir, `${role}-${sessions}.log`),
		);
	const [host, floorHost]: MiniflareServer[] = await Promise.all([start("ours"), start("floor")]);
	try {
		const target: Target = { role: "ours", url: host.url, headers: { authorization: `Bearer ${key}` } };
		// The floor ignores the header; it gets the same bytes.
		const floor: Target = { ...target, role: "floor", url: floorHost.url };
		const touchConcurrency = Math.min(FIRST_TOUCH_CONCURRENCY, sessions);
		// A duration no pass reaches: `amount` ends it, one request per session.
		const once = (server: Target, operation: Operation) => measure(server, spread(operation, sessions), touchConcurrency, 3600, sessions);
		const floorStateGet = await once(floor, "state-get");
		const stateGet = await once(target, "state-get");
		await settle(host.pid);
		const context = await once(target, "context");
		await settle(host.pid);
		const load = async (spec: RequestSpec, concurrency: number, server = target) => {
			await measure(server, spec, concurrency, settings.warmupSeconds);
			const measured = await measure(server, spec, concurrency, settings.measureSeconds);
			return { measured, busyAfter: await settle(server === target ? host.pid : floorHost.pid) };
		};
		const rows: Row[] = [];
		for (const concurrency of settings.concurrency) {
			for (const operation of Object.keys(operations) as Operation[]) {
				const spreadLoad = await load(spread(operation, sessions), concurrency);
				const hotLoad = await load(spread(operation, 1), concurrency);
				const floorLoad = operation === "state-get" ? await load(spread(operation, sessions), concurrency, floor) : null;
				const [measured, hot] = [spreadLoad.measured, hotLoad.measured];
				const busyAfterSeconds = { spread: spreadLoad.busyAfter, hot: hotLoad.busyAfter };
				rows.push({ sessions, operation, concurrency, measured, hot, floor: floorLoad?.measured ?? null, busyAfterSeconds, targetMet: measured.latencyMs.p95 < TARGET_P95_MS });
				const line = (m: Measurement, busy: number) => `p50 ${m.latencyMs.p50.toFixed(2)} p95 ${m.latencyMs.p95.toFixed(2)} ms ${m.requestsPerSecond} req/s, busy ${busy} s after`;
				console.log(`  ${String(sessions).padStart(4)} sessions  ${operation.padEnd(9)}  c=${concurrency}  ${line(measured, busyAfterSeconds.spread)}  (1 hot session: ${line(hot, busyAfterSeconds.hot)})`);
			}
		}
		const firstTouch: FirstTouch = { sessions, concurrency: touchConcurrency, stateGet, context, floorStateGet, hostStartMs: Math.round(host.startMs), hostRssMiB: groupUsage(host.pid).rssMiB, loadAverage1m: loadAverage1m() };
		return { firstTouch, rows };
	} finally {
		await Promise.all([host.stop(), floorHost.stop()]);
	}
}

const ms = (m: Measurement) => [m.latencyMs.p50, m.latencyMs.p95, m.latencyMs.p99].map((value) => value.toFixed(2));

function formatRows(rows: Row[]): string {
	const verdict = (row: Row) => `${row.targetMet ? "met" : "MISSED"} (p95 < ${TARGET_P95_MS} ms)`;
	return table(
		[
			["sessions", "operation", "c", "p50 ms", "p95 ms", "p99 ms", "req/s", "hot p50/p95/p99 ms", "hot req/s", "floor p50/p95/p99 ms", "floor req/s", "non-2xx", "target"],
			...rows.map((row) => [
				String(row.sessions),
				row.operation,
				String(row.concurrency),
				...ms(row.measured),
				String(Math.round(row.measured.requestsPerSecond)),
				ms(row.hot).join(" / "),
				String(Math.round(row.hot.requestsPerSecond)),
				row.floor ? ms(row.floor).join(" / ") : "-",
				row.floor ? String(Math.round(row.floor.requestsPerSecond)) : "-",
				String(rowFailures(row)),
				verdict(row),
			]),
		],
		(column) => column !== 1 && column !== 12,
	);
}

function formatFirstTouch(touches: FirstTouch[]): string {
	const max = (m: Measurement) => m.latencyMs.max.toFixed(2);
	return table([
		["sessions", "c", "first state-get p50/p95/p99/max ms", "first window p50/p95/p99/max ms", "floor first state-get p50/p95/p99/max ms", "host start ms", "host RSS MiB", "load avg"],
		...touches.map((t) => [
			String(t.sessions),
			String(t.concurrency),
			[...ms(t.stateGet), max(t.stateGet)].join(" / "),
			[...ms(t.context), max(t.context)].join(" / "),
			[...ms(t.floorStateGet), max(t.floorStateGet)].join(" / "),
			String(t.hostStartMs),
			String(t.hostRssMiB),
			t.loadAverage1m.toFixed(2),
		]),
	]);
}

async function main(): Promise<void> {
	const startedAt = new Date();
	const seeded = Math.max(...settings.sessions);
	console.log(
		`edge-context sessions load bench${quick ? " --quick" : ""}: ${seeded} sessions of ${SEED.events} events and ${keyCount} state keys, ` +
			`concurrency ${settings.concurrency.join(" and ")}, ${settings.warmupSeconds} s warm-up + ${settings.measureSeconds} s per measurement, ` +
			`${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`,
	);
	const build = (name: keyof Bundles, configPath: string) =>
		buildBundle(configPath, path.join(workDir, `bundle-${name}`), { logPath: path.join(workDir, `bundle-${name}.log`), registryDir: path.join(workDir, "registry") });
	const [ours, floor] = await Promise.all([build("ours", "wrangler.toml"), build("floor", "bench/floor/wrangler.toml")]);
	const bundles: Bundles = { ours, floor };
	const seeder = await startMiniflare("ours (miniflare, seeding)", { target: "ours", scriptPath: ours, persistDir, adminKey }, path.join(workDir, "ours-seed.log"));
	let key: string;
	let seedSeconds: number;
	let shape: { items: number; used: number; omitted: unknown };
	try {
		const admin: Target = { role: "ours", url: seeder.url, headers: { authorization: `Bearer ${adminKey}` } };
		// The load uses a minted writer key, verified against D1 and cached like any agent's.
		({ key } = (await call(admin, "POST", "/v1/admin/keys", { role: "writer", name: "bench-sessions" })) as { key: string });
		const writer: Target = { ...admin, headers: { authorization: `Bearer ${key}` } };
		seedSeconds = await seed(writer, seeded);
		// What a window holds, for the report; this host is stopped before any measurement.
		const window = (await call(writer, "GET", operations.context(0, 0))) as { items: unknown[]; used: number; omitted: unknown };
		shape = { items: window.items.length, used: window.used, omitted: window.omitted };
	} finally {
		await seeder.stop();
	}
	const floorSeeder = await startMiniflare("floor (miniflare, seeding)", { target: "floor", scriptPath: floor, persistDir: floorPersistDir, adminKey }, path.join(workDir, "floor-seed.log"));
	let floorSeedSeconds: number;
	try {
		floorSeedSeconds = await seed({ role: "floor", url: floorSeeder.url, headers: {} }, seeded);
	} finally {
		await floorSeeder.stop();
	}
	console.log(`  seeded in ${seedSeconds.toFixed(1)} s (the floor's keys in ${floorSeedSeconds.toFixed(1)} s)`);
	const touches: FirstTouch[] = [];
	const rows: Row[] = [];
	for (const sessions of settings.sessions) {
		const result = await runSessions(bundles, key, sessions);
		touches.push(result.firstTouch);
		rows.push(...result.rows);
	}
	console.log(`\nLoad spread round-robin over the sessions, after a first touch of each; then on 1 hot session, then (state gets) on the floor (GET context?budget=${SEED.budget}: ${shape.items} items, ${shape.used} tokens):\n${formatRows(rows)}`);
	console.log(`\nFirst touch on a freshly started host, ${FIRST_TOUCH_CONCURRENCY} at a time (at most one per session):\n${formatFirstTouch(touches)}`);
	const failed = rows.reduce((sum, row) => sum + rowFailures(row), 0) + touches.reduce((sum, t) => sum + failures(t.stateGet) + failures(t.context) + failures(t.floorStateGet), 0);
	console.log(failed === 0 ? "non-2xx responses and errors: 0" : `WARNING: ${failed} non-2xx responses or errors: figures are suspect`);
	const output = {
		generatedAt: startedAt.toISOString(),
		quick,
		durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
		machine: machine(loadAtStart),
		tools: { wrangler: packageVersion("wrangler"), miniflare: packageVersion("miniflare"), autocannon: packageVersion("autocannon") },
		code: codeVersion(),
		mode: "miniflare: the `wrangler deploy --dry-run` bundle served by Miniflare's API, no proxy Worker, no local tracing; session objects kept in memory (no 10 s idle eviction)",
		settings: {
			...settings,
			seed: { ...SEED, sessions: seeded, parallel: SEED_PARALLEL, seconds: Number(seedSeconds.toFixed(1)), floorSeconds: Number(floorSeedSeconds.toFixed(1)) },
			window: shape,
			firstTouchConcurrency: FIRST_TOUCH_CONCURRENCY,
			targetP95Ms: TARGET_P95_MS,
			client: "autocannon, one process, keep-alive, pipelining 1; each request to the next session round-robin; latencies of 2xx responses",
		},
		firstTouch: touches,
		results: rows,
	};
	const file = path.join(projectRoot, "bench/results/sessions-latest.json");
	writeAtomically(file, `${JSON.stringify(output, null, "\t")}\n`);
	console.log(`wrote ${path.relative(projectRoot, file)} in ${output.durationSeconds} s`);
	if (failed > 0) process.exitCode = 1;
}

await runMain(main, workDir);
