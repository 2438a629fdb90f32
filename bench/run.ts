/**
 * `npm run bench [-- --quick]`: edge-context against a bare Durable Object floor, in the same
 * run with the same client, served three ways: `wrangler dev` as users run it, `wrangler dev`
 * with local tracing off, and Miniflare's API directly (closer to production; --quick skips
 * the tracing-off variant to stay under a minute). Prints the table and writes
 * bench/results/latest.json. See bench/README.md.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { codeVersion, loadAverage1m, machine, packageVersion, runMain, writeAtomically } from "./harness";
import { call, measure, projectionCatchUp, type Target } from "./load";
import { buildBundle, projectRoot, runWrangler, type Server, startMiniflare, startWranglerDev } from "./processes";
import { compare, failures, formatTable, formatTargetSummary, type Row, TARGETS } from "./report";
import { scenarios } from "./scenarios";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false } }, strict: true });
const quick = flags.quick;

const settings = quick ? { warmupSeconds: 0.2, measureSeconds: 0.6 } : { warmupSeconds: 2, measureSeconds: 10 };
const CONCURRENCY = [1, 32];

/** Per run, so nothing the bench starts accepts a key anyone else knows. */
const adminKey = `bench-admin-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-"));
const registryDir = path.join(workDir, "dev-registry");

interface Pair {
	ours: Server;
	floor: Server;
}

interface Mode {
	label: string;
	description: string;
	/** Left out of --quick to keep it under a minute. */
	fullOnly: boolean;
	start(): Promise<Pair>;
}

const modes: Mode[] = [
	{
		label: "wrangler dev",
		description: "`wrangler dev` as users run it: its proxy Worker in front, local request tracing on (X_LOCAL_OBSERVABILITY=true, the default)",
		fullOnly: false,
		start: () => startWranglerPair("traced", { X_LOCAL_OBSERVABILITY: "true" }),
	},
	{
		label: "wrangler dev, no tracing",
		description: "`wrangler dev` with X_LOCAL_OBSERVABILITY=false: the proxy Worker stays, local request tracing is off",
		fullOnly: true,
		start: () => startWranglerPair("untraced", { X_LOCAL_OBSERVABILITY: "false" }),
	},
	{
		label: "miniflare",
		description: "the `wrangler deploy --dry-run` bundle served by Miniflare's API directly: no proxy Worker, no local tracing",
		fullOnly: false,
		start: () => startMiniflarePair(),
	},
];

/** Starts both servers of a pair at once; if either fails, stops the other. */
async function startPair(ours: () => Promise<Server>, floor: () => Promise<Server>): Promise<Pair> {
	const [oursStarted, floorStarted] = await Promise.allSettled([ours(), floor()]);
	if (oursStarted.status === "fulfilled" && floorStarted.status === "fulfilled") {
		return { ours: oursStarted.value, floor: floorStarted.value };
	}
	const results = [oursStarted, floorStarted];
	await Promise.all(results.flatMap((result) => (result.status === "fulfilled" ? [result.value.stop()] : [])));
	throw results.find((result) => result.status === "rejected")?.reason;
}

function startWranglerPair(name: string, env: Record<string, string>): Promise<Pair> {
	const dir = path.join(workDir, `wrangler-${name}`);
	mkdirSync(dir);
	const persist = { ours: path.join(dir, "ours-state"), floor: path.join(dir, "floor-state") };
	return startPair(
		async () => {
			const logPath = path.join(dir, "ours.log");
			// Into this run's own state dir, never the developer's .wrangler/state.
			await runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist.ours], { logPath, registryDir });
			return startWranglerDev({
				name: "ours (wrangler dev)",
				configPath: "wrangler.toml",
				persistDir: persist.ours,
				registryDir,
				logPath,
				env,
				vars: { ADMIN_API_KEY: adminKey },
			});
		},
		() =>
			startWranglerDev({
				name: "floor (wrangler dev)",
				configPath: "bench/floor/wrangler.toml",
				persistDir: persist.floor,
				registryDir,
				logPath: path.join(dir, "floor.log"),
				env,
				vars: {},
			}),
	);
}

/** The deploy bundles: what Miniflare serves is exactly what would be uploaded. */
async function buildBundles(): Promise<{ ours: string; floor: string }> {
	const dir = path.join(workDir, "bundles");
	const build = (name: string, configPath: string) =>
		buildBundle(configPath, path.join(dir, name), { logPath: path.join(workDir, `bundle-${name}.log`), registryDir });
	const [ours, floor] = await Promise.all([build("ours", "wrangler.toml"), build("floor", "bench/floor/wrangler.toml")]);
	return { ours, floor };
}

/**
 * Started first, in parallel with the first servers' start-up; every mode awaits it before its
 * load, so no build ever competes with a measurement.
 */
const bundles = buildBundles();
// Awaited (and so reported) later; this only keeps an early failure from counting as unhandled.
bundles.catch(() => undefined);

async function startMiniflarePair(): Promise<Pair> {
	const built = await bundles;
	const dir = path.join(workDir, "miniflare");
	mkdirSync(dir);
	return startPair(
		() =>
			startMiniflare(
				"ours (miniflare)",
				{ target: "ours", scriptPath: built.ours, persistDir: path.join(dir, "ours-state"), adminKey },
				path.join(dir, "ours.log"),
			),
		() =>
			startMiniflare(
				"floor (miniflare)",
				{ target: "floor", scriptPath: built.floor, persistDir: path.join(dir, "floor-state"), adminKey },
				path.join(dir, "floor.log"),
			),
	);
}

/** Loads both servers of a mode with every scenario and concurrency, floor then ours, back to back. */
async function runMode(mode: Mode, pair: Pair): Promise<Row[]> {
	// The load uses a minted writer key, verified against D1 and cached like any agent's.
	const admin: Target = { role: "ours", url: pair.ours.url, headers: { authorization: `Bearer ${adminKey}` } };
	const { key } = (await call(admin, "POST", "/v1/admin/keys", { role: "writer", name: "bench" })) as { key: string };
	// The floor ignores the header; it is sent anyway so both get byte-for-byte the same requests.
	const headers = { authorization: `Bearer ${key}` };
	const floor: Target = { role: "floor", url: pair.floor.url, headers };
	const ours: Target = { role: "ours", url: pair.ours.url, headers };
	const rows: Row[] = [];
	for (const scenario of scenarios) {
		for (const concurrency of CONCURRENCY) {
			const sessionId = `${scenario.name}-c${concurrency}`;
			const load = async (target: Target) => {
				const spec = await scenario.prepare(target, sessionId);
				await measure(target, spec, concurrency, settings.warmupSeconds);
				return measure(target, spec, concurrency, settings.measureSeconds);
			};
			const floorMeasured = await load(floor);
			const oursMeasured = await load(ours);
			const catchUpMs = await projectionCatchUp(ours, sessionId);
			const row = compare(mode.label, scenario.name, concurrency, oursMeasured, floorMeasured, catchUpMs);
			console.log(
				`  ${scenario.name.padEnd(9)} c=${String(concurrency).padEnd(2)}  ours p50 ${row.ours.latencyMs.p50.toFixed(2)} ms` +
					` p95 ${row.ours.latencyMs.p95.toFixed(2)} ms  floor p50 ${row.floor.latencyMs.p50.toFixed(2)} ms` +
					` p95 ${row.floor.latencyMs.p95.toFixed(2)} ms  (${row.ratio.p50.toFixed(2)}x / ${row.ratio.p95.toFixed(2)}x)` +
					`  D1 index caught up ${catchUpMs} ms after`,
			);
			rows.push(row);
		}
	}
	return rows;
}

function writeResults(rows: Row[], startedAt: Date, selected: Mode[]): string {
	const file = path.join(projectRoot, "bench/results/latest.json");
	const results = {
		generatedAt: startedAt.toISOString(),
		quick,
		durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
		machine: machine(loadAverageAtStart),
		tools: { wrangler: packageVersion("wrangler"), miniflare: packageVersion("miniflare"), autocannon: packageVersion("autocannon") },
		code: codeVersion(),
		settings: {
			...settings,
			concurrency: CONCURRENCY,
			client: "autocannon, one process, keep-alive, pipelining 1; latencies of 2xx responses; floor then ours, back to back",
		},
		targets: TARGETS,
		modes: selected.map(({ label, description }) => ({ label, description })),
		scenarios: scenarios.map(({ name, description }) => ({ name, description })),
		results: rows,
	};
	writeAtomically(file, `${JSON.stringify(results, null, "\t")}\n`);
	return path.relative(projectRoot, file);
}

const loadAverageAtStart = loadAverage1m();

async function main(): Promise<void> {
	const startedAt = new Date();
	const selected = modes.filter((mode) => !quick || !mode.fullOnly);
	console.log(
		`edge-context bench${quick ? " --quick" : ""}: ${settings.warmupSeconds} s warm-up + ${settings.measureSeconds} s per measurement, ` +
			`concurrency ${CONCURRENCY.join(" and ")}, ${os.cpus().length} CPUs, Node ${process.version}`,
	);
	const rows: Row[] = [];
	for (const mode of selected) {
		console.log(`\n${mode.label}: ${mode.description}`);
		const starting = Date.now();
		const pair = await mode.start();
		try {
			await bundles;
			console.log(`  servers ready in ${((Date.now() - starting) / 1000).toFixed(1)} s`);
			rows.push(...(await runMode(mode, pair)));
		} finally {
			await Promise.all([pair.ours.stop(), pair.floor.stop()]);
		}
	}
	console.log(`\n${formatTable(rows)}\n\n${formatTargetSummary(rows)}`);
	const failed = rows.reduce((sum, row) => sum + failures(row), 0);
	console.log(failed === 0 ? "non-2xx responses and errors: 0" : `WARNING: ${failed} non-2xx responses or errors: figures are suspect`);
	console.log(`wrote ${writeResults(rows, startedAt, selected)} in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
	if (failed > 0) process.exitCode = 1;
}

await runMain(main, workDir);
