/**
 * `npm run bench:workflow`: what a workflow step costs next to the write it is made of. One
 * session runs a workflow of many steps; each round starts one step, completes it, and puts
 * one state key on another session, sequentially, against the `wrangler deploy --dry-run`
 * bundle served by Miniflare on 127.0.0.1. Writes bench/results/workflow-latest.json.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, sessionPath, startHost, stats, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const ROUNDS = 300;
const WARMUP = 20;

const adminKey = `bench-workflow-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-workflow-"));
const loadAtStart = loadAverage1m();

async function main(): Promise<void> {
	console.log(`edge-context workflow bench: ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`);
	const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir: path.join(workDir, "registry") });
	const host = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
	const client = new Client(host.url, adminKey);
	try {
		await client.ok("POST", "/v1/sessions", { id: "wf" });
		await client.ok("POST", "/v1/sessions", { id: "kv" });
		const steps = Array.from({ length: ROUNDS + WARMUP }, (_, index) => ({ id: `s${index}`, action: `step ${index}` }));
		await client.ok("PUT", sessionPath("wf", "/workflows/long"), { steps });
		const samples = { "state put": [] as number[], "step start": [] as number[], "step complete": [] as number[] };
		for (let round = 0; round < ROUNDS + WARMUP; round++) {
			const put = await client.request("PUT", sessionPath("kv", "/state/progress/step"), { value: round });
			const start = await client.request("POST", sessionPath("wf", `/workflows/long/steps/s${round}/start`), { by: "bench" });
			const complete = await client.request("POST", sessionPath("wf", `/workflows/long/steps/s${round}/complete`), { result: { round } });
			for (const response of [put, start, complete]) if (response.status !== 200) throw new Error(`answered ${response.status}: ${JSON.stringify(response.body).slice(0, 200)}`);
			if (round < WARMUP) continue;
			samples["state put"].push(put.ms);
			samples["step start"].push(start.ms);
			samples["step complete"].push(complete.ms);
		}
		const figures = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, stats(values)]));
		const floor = figures["state put"].p50;
		console.log(`\n${ROUNDS} sequential rounds (after ${WARMUP} warm-up), a workflow of ${ROUNDS + WARMUP} steps:`);
		console.log(
			table([
				["request", "p50 ms", "p95 ms", "p99 ms", "x state put p50"],
				...Object.entries(figures).map(([name, figure]) => [name, figure.p50.toFixed(2), figure.p95.toFixed(2), figure.p99.toFixed(2), `${(figure.p50 / floor).toFixed(2)}x`]),
			]),
		);
		writeAtomically(
			path.join(projectRoot, "bench/results/workflow-latest.json"),
			`${JSON.stringify({ generatedAt: new Date().toISOString(), machine: machine(loadAtStart), code: codeVersion(), rounds: ROUNDS, steps: ROUNDS + WARMUP, figures }, null, "\t")}\n`,
		);
	} finally {
		client.close();
		await host.stop();
	}
}

await runMain(main, workDir);
