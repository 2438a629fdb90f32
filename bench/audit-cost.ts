/**
 * `npm run bench:audit`: what recording every read costs. The same reads (a context window,
 * a state key) go, interleaved, to two Miniflare hosts on 127.0.0.1: this checkout's bundle,
 * which writes an audit row in each read's storage turn, and the bundle of the last commit
 * before read auditing (AUDIT_BASELINE_REF, built from a temporary git worktree). Both serve
 * a session of the same shape. Writes bench/results/audit-latest.json.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, sessionPath, startHost, stats, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const BASELINE_REF = process.env.AUDIT_BASELINE_REF ?? "ca8b5f7";
const ROUNDS = 400;
const WARMUP = 30;

const adminKey = `bench-audit-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-audit-"));
const loadAtStart = loadAverage1m();

async function seed(client: Client): Promise<void> {
	await client.ok("POST", "/v1/sessions", { id: "audited" });
	for (let batch = 0; batch < 4; batch++) {
		const events = Array.from({ length: 25 }, (_, index) => ({ type: "note", content: `finding ${batch * 25 + index}: ${"context words ".repeat(12)}` }));
		await client.ok("POST", sessionPath("audited", "/events"), { events });
	}
	for (let key = 0; key < 20; key++) await client.ok("PUT", sessionPath("audited", `/state/facts/k${key}`), { value: `value ${key}` });
}

async function main(): Promise<void> {
	console.log(`edge-context audit bench: ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}, baseline ${BASELINE_REF}`);
	const baselineTree = path.join(workDir, "baseline");
	execFileSync("git", ["worktree", "add", "--detach", baselineTree, BASELINE_REF], { cwd: projectRoot, stdio: "ignore" });
	symlinkSync(path.join(projectRoot, "node_modules"), path.join(baselineTree, "node_modules"));
	// The static assets (Swagger UI) are made by `npm install`, not kept in git; the reads measured here do not use them.
	mkdirSync(path.join(baselineTree, "public"), { recursive: true });
	const build = (config: string, name: string) =>
		buildBundle(config, path.join(workDir, `${name}-bundle`), { logPath: path.join(workDir, `${name}-bundle.log`), registryDir: path.join(workDir, `${name}-registry`) });
	const hosts = {
		audited: await startHost({ scriptPath: await build("wrangler.toml", "audited"), persistDir: path.join(workDir, "audited-state"), adminKey }, path.join(workDir, "audited.log")),
		baseline: await startHost({ scriptPath: await build(path.join(baselineTree, "wrangler.toml"), "baseline"), persistDir: path.join(workDir, "baseline-state"), adminKey }, path.join(workDir, "baseline.log")),
	};
	const clients = { audited: new Client(hosts.audited.url, adminKey), baseline: new Client(hosts.baseline.url, adminKey) };
	try {
		await seed(clients.audited);
		await seed(clients.baseline);
		const reads = { "GET context (budget 2000)": sessionPath("audited", "/context?budget=2000"), "GET state key": sessionPath("audited", "/state/facts/k7") };
		const samples: Record<string, number[]> = {};
		for (let round = 0; round < ROUNDS + WARMUP; round++) {
			for (const [name, pathname] of Object.entries(reads)) {
				// Alternate which host goes first, so neither always follows the other.
				const order = round % 2 === 0 ? (["audited", "baseline"] as const) : (["baseline", "audited"] as const);
				for (const target of order) {
					const response = await clients[target].request("GET", pathname);
					if (response.status !== 200) throw new Error(`${target} answered ${response.status}`);
					if (round >= WARMUP) (samples[`${name} ${target}`] ??= []).push(response.ms);
				}
			}
		}
		const figures = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, stats(values)]));
		console.log(`\n${ROUNDS} interleaved rounds (after ${WARMUP} warm-up); the baseline records no reads:`);
		const rows = Object.keys(reads).flatMap((name) => {
			const audited = figures[`${name} audited`];
			const baseline = figures[`${name} baseline`];
			return [
				[`${name}, baseline`, baseline.p50.toFixed(2), baseline.p95.toFixed(2), baseline.p99.toFixed(2), "1.00x"],
				[`${name}, audited`, audited.p50.toFixed(2), audited.p95.toFixed(2), audited.p99.toFixed(2), `${(audited.p50 / baseline.p50).toFixed(2)}x`],
			];
		});
		console.log(table([["read", "p50 ms", "p95 ms", "p99 ms", "x baseline p50"], ...rows]));
		writeAtomically(
			path.join(projectRoot, "bench/results/audit-latest.json"),
			`${JSON.stringify({ generatedAt: new Date().toISOString(), machine: machine(loadAtStart), code: codeVersion(), baseline: BASELINE_REF, rounds: ROUNDS, figures }, null, "\t")}\n`,
		);
	} finally {
		for (const client of Object.values(clients)) client.close();
		for (const host of Object.values(hosts)) await host.stop();
		execFileSync("git", ["worktree", "remove", "--force", baselineTree], { cwd: projectRoot, stdio: "ignore" });
	}
}

await runMain(main, workDir);
