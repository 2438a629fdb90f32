/**
 * `npm run bench:peer [-- --quick | --rows-only]`: edge-context against Cloudflare's `agents/sessions`
 * (bench/peers/agents-sessions.ts) and the bare floor (bench/floor/), in the same run with the
 * same client and the same requests, served the same ways as `npm run bench`. Then the rows each
 * operation is billed for (bench/peer-rows.ts). Prints both tables and writes
 * bench/results/peer-latest.json. See bench/README.md, "Against agents/sessions".
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { codeVersion, loadAverage1m, machine, packageVersion, runMain, writeAtomically } from "./harness";
import { call, type Measurement, measure, projectionCatchUp, type Target } from "./load";
import { countRows, formatRowTable } from "./peer-rows";
import { type PeerScenarioName, peerScenarios } from "./peer-scenarios";
import { buildBundle, projectRoot, runWrangler, type Server, startMiniflare, startWranglerDev } from "./processes";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false }, "rows-only": { type: "boolean", default: false } }, strict: true });
const quick = flags.quick;
/** Only the row counts (deterministic, about two minutes): no latency, written to peer-rows-latest.json. */
const rowsOnly = flags["rows-only"];
const settings = quick ? { warmupSeconds: 0.2, measureSeconds: 0.6 } : { warmupSeconds: 2, measureSeconds: 10 };

const adminKey = `bench-admin-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-peer-bench-"));
const registryDir = path.join(workDir, "dev-registry");

type Role = Target["role"];
type Trio = Record<Role, Server>;

/** Starts the three servers at once; if any fails, stops the others. */
async function startTrio(start: Record<Role, () => Promise<Server>>): Promise<Trio> {
	const roles = Object.keys(start) as Role[];
	const started = await Promise.allSettled(roles.map((role) => start[role]()));
	const failed = started.find((result) => result.status === "rejected");
	if (!failed) return Object.fromEntries(roles.map((role, index) => [role, (started[index] as PromiseFulfilledResult<Server>).value])) as Trio;
	await Promise.all(started.flatMap((result) => (result.status === "fulfilled" ? [result.value.stop()] : [])));
	throw failed.reason;
}

const configs: Record<Role, string> = { ours: "wrangler.toml", floor: "bench/floor/wrangler.toml", peer: "bench/peers/agents-sessions.wrangler.toml" };

function startWranglerTrio(name: string, env: Record<string, string>): Promise<Trio> {
	const dir = path.join(workDir, `wrangler-${name}`);
	mkdirSync(dir);
	const serve = (role: Role, vars: Record<string, string>) => {
		const persistDir = path.join(dir, `${role}-state`);
		const logPath = path.join(dir, `${role}.log`);
		return startWranglerDev({ name: `${role} (wrangler dev)`, configPath: configs[role], persistDir, registryDir, logPath, env, vars });
	};
	return startTrio({
		async ours() {
			// Into this run's own state dir, never the developer's .wrangler/state.
			const persist = ["--persist-to", path.join(dir, "ours-state")];
			await runWrangler(["d1", "migrations", "apply", "DB", "--local", ...persist], { logPath: path.join(dir, "ours.log"), registryDir });
			return serve("ours", { ADMIN_API_KEY: adminKey });
		},
		floor: () => serve("floor", {}),
		peer: () => serve("peer", {}),
	});
}

/** The deploy bundles, and ours again with the row-counting entry (bench/peers/counting-ours.ts). */
async function buildBundles(): Promise<Record<Role | "oursCounting", string>> {
	const build = (name: string, configPath: string, entry?: string) =>
		buildBundle(configPath, path.join(workDir, "bundles", name), { logPath: path.join(workDir, `bundle-${name}.log`), registryDir, entry });
	const [ours, floor, peer, oursCounting] = await Promise.all([
		build("ours", configs.ours),
		build("floor", configs.floor),
		build("peer", configs.peer),
		build("ours-counting", configs.ours, "bench/peers/counting-ours.ts"),
	]);
	return { ours, floor, peer, oursCounting };
}

/** Started at once and awaited before any load, so no build competes with a measurement. */
const bundles = buildBundles();
bundles.catch(() => undefined);

async function startMiniflareTrio(): Promise<Trio> {
	const built = await bundles;
	const dir = path.join(workDir, "miniflare");
	mkdirSync(dir);
	const serve = (role: Role) =>
		startMiniflare(`${role} (miniflare)`, { target: role, scriptPath: built[role], persistDir: path.join(dir, `${role}-state`), adminKey }, path.join(dir, `${role}.log`));
	return startTrio({ ours: () => serve("ours"), floor: () => serve("floor"), peer: () => serve("peer") });
}

const modes = [
	{ label: "wrangler dev", fullOnly: false, start: () => startWranglerTrio("traced", { X_LOCAL_OBSERVABILITY: "true" }) },
	{ label: "wrangler dev, no tracing", fullOnly: true, start: () => startWranglerTrio("untraced", { X_LOCAL_OBSERVABILITY: "false" }) },
	{ label: "miniflare", fullOnly: false, start: startMiniflareTrio },
];

interface LatencyRow {
	mode: string;
	scenario: PeerScenarioName;
	concurrency: number;
	measured: Partial<Record<Role, Measurement>>;
}

/** Loads a mode's servers: for each scenario and concurrency the floor, the peer, then ours, back to back. */
async function runMode(label: string, trio: Trio): Promise<LatencyRow[]> {
	const admin: Target = { role: "ours", url: trio.ours.url, headers: { authorization: `Bearer ${adminKey}` } };
	const { key } = (await call(admin, "POST", "/v1/admin/keys", { role: "writer", name: "bench" })) as { key: string };
	// The floor and the peer ignore the header; all three get the same bytes.
	const headers = { authorization: `Bearer ${key}` };
	const rows: LatencyRow[] = [];
	for (const scenario of peerScenarios) {
		for (const concurrency of scenario.concurrency) {
			const sessionId = `${scenario.name}-c${concurrency}`;
			const measured: LatencyRow["measured"] = {};
			for (const role of scenario.roles) {
				const target: Target = { role, url: trio[role].url, headers };
				const spec = await scenario.prepare(target, sessionId);
				await measure(target, spec, concurrency, settings.warmupSeconds);
				measured[role] = await measure(target, spec, concurrency, settings.measureSeconds);
				if (role === "ours") await projectionCatchUp(target, sessionId);
			}
			rows.push({ mode: label, scenario: scenario.name, concurrency, measured });
			console.log(`  ${scenario.name.padEnd(14)} c=${String(concurrency).padEnd(2)} ${Object.entries(measured).map(([role, m]) => `${role} p50 ${m.latencyMs.p50.toFixed(2)} ms`).join("  ")}`);
		}
	}
	return rows;
}

/** A guarded append is compared with the peer's and the floor's plain append of the same mode and concurrency. */
function baseline(rows: LatencyRow[], row: LatencyRow, role: "peer" | "floor"): Measurement | undefined {
	const scenario = peerScenarios.find((candidate) => candidate.name === row.scenario)?.comparedWith ?? row.scenario;
	return rows.find((other) => other.mode === row.mode && other.scenario === scenario && other.concurrency === row.concurrency)?.measured[role];
}

function ratios(ours: Measurement | undefined, other: Measurement | undefined) {
	if (!ours || !other) return null;
	const of = (key: "p50" | "p95" | "p99") => Number((ours.latencyMs[key] / other.latencyMs[key]).toFixed(3));
	return { p50: of("p50"), p95: of("p95"), p99: of("p99") };
}

function formatLatencyTable(rows: LatencyRow[]): string {
	const ms = (m: Measurement | undefined) => (m ? [m.latencyMs.p50, m.latencyMs.p95, m.latencyMs.p99].map((v) => v.toFixed(2)).join(" / ") : "-");
	const x = (r: ReturnType<typeof ratios>) => (r ? `${r.p50.toFixed(2)}x / ${r.p95.toFixed(2)}x / ${r.p99.toFixed(2)}x` : "-");
	const failed = (row: LatencyRow) => Object.values(row.measured).reduce((sum, m) => sum + m.non2xx + m.errors, 0);
	const header = ["mode", "scenario", "c", "ours p50/p95/p99 ms", "peer p50/p95/p99 ms", "floor p50/p95/p99 ms", "ours/peer", "ours/floor", "non-2xx"];
	const lines = rows.map((row) => {
		const ours = row.measured.ours;
		const peer = baseline(rows, row, "peer");
		const floor = baseline(rows, row, "floor");
		return [row.mode, row.scenario, String(row.concurrency), ms(ours), ms(peer), ms(floor), x(ratios(ours, peer)), x(ratios(ours, floor)), String(failed(row))];
	});
	const widths = header.map((title, index) => Math.max(title.length, ...lines.map((line) => line[index].length)));
	const format = (line: string[]) => line.map((cell, index) => (index < 2 ? cell.padEnd(widths[index]) : cell.padStart(widths[index]))).join("  ").trimEnd();
	return [format(header), format(widths.map((width) => "-".repeat(width))), ...lines.map(format)].join("\n");
}

/** The issue's latency target: append and tail p50 at most the peer's at concurrency 1. */
function targetSummary(rows: LatencyRow[]): string {
	return rows
		.filter((row) => row.concurrency === 1 && (row.scenario === "append" || row.scenario === "read-tail"))
		.map((row) => {
			const ratio = ratios(row.measured.ours, row.measured.peer)?.p50 ?? Number.NaN;
			return `${row.mode} ${row.scenario} c=1: ours/peer p50 ${ratio.toFixed(2)}x (target <= 1.0x: ${ratio <= 1 ? "met" : "MISSED"})`;
		})
		.join("\n");
}

const loadAverageAtStart = loadAverage1m();

async function main(): Promise<void> {
	const startedAt = new Date();
	console.log(`edge-context vs agents/sessions${quick ? " --quick" : ""}: ${settings.warmupSeconds} s warm-up + ${settings.measureSeconds} s per measurement, ${os.cpus().length} CPUs, Node ${process.version}`);
	const latency: LatencyRow[] = [];
	for (const mode of rowsOnly ? [] : modes.filter((candidate) => !quick || !candidate.fullOnly)) {
		console.log(`\n${mode.label}`);
		const trio = await mode.start();
		try {
			await bundles;
			latency.push(...(await runMode(mode.label, trio)));
		} finally {
			await Promise.all(Object.values(trio).map((server) => server.stop()));
		}
	}
	console.log("\nrow counts (miniflare, counting builds)");
	const built = await bundles;
	const rowCounts = await countRows({ workDir, adminKey, oursBundle: built.oursCounting, peerBundle: built.peer });
	console.log(rowsOnly ? `\n${formatRowTable(rowCounts)}` : `\n${formatLatencyTable(latency)}\n\n${targetSummary(latency)}\n\n${formatRowTable(rowCounts)}`);
	const failed = latency.reduce((sum, row) => sum + Object.values(row.measured).reduce((n, m) => n + m.non2xx + m.errors, 0), 0);
	console.log(failed === 0 ? "non-2xx responses and errors: 0" : `WARNING: ${failed} non-2xx responses or errors: figures are suspect`);
	const file = path.join(projectRoot, rowsOnly ? "bench/results/peer-rows-latest.json" : "bench/results/peer-latest.json");
	const results = {
		generatedAt: startedAt.toISOString(),
		quick,
		machine: machine(loadAverageAtStart),
		tools: { wrangler: packageVersion("wrangler"), miniflare: packageVersion("miniflare"), agents: packageVersion("agents"), autocannon: packageVersion("autocannon") },
		code: codeVersion(),
		settings: { ...settings, client: "autocannon, one process, keep-alive, pipelining 1; latencies of 2xx responses; floor, peer, then ours, back to back" },
		scenarios: peerScenarios.map(({ name, description, roles, concurrency }) => ({ name, description, roles, concurrency })),
		latency: latency.map((row) => ({
			...row,
			oursOverPeer: ratios(row.measured.ours, baseline(latency, row, "peer")),
			oursOverFloor: ratios(row.measured.ours, baseline(latency, row, "floor")),
		})),
		rowCounts,
	};
	writeAtomically(file, `${JSON.stringify(results, null, "\t")}\n`);
	console.log(`wrote ${path.relative(projectRoot, file)} in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
	if (failed > 0) process.exitCode = 1;
}

await runMain(main, workDir);
