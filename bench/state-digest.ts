/**
 * `npm run bench:digest`: does a context window's cost follow its budget or the session's
 * state? Two sessions, the same 20 events, one with 10 state keys and one with 3,000 keys of
 * 12 KB each; GET /context?budget=2000 on both, interleaved, against the
 * `wrangler deploy --dry-run` bundle served by Miniflare on 127.0.0.1. Target: p50 ratio
 * (3,000 keys / 10 keys) at most 1.5x. Writes bench/results/digest-latest.json.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, drained, sessionPath, startHost, stats, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const KEYS = [10, 3000];
const VALUE_BYTES = 12 * 1024;
const BUDGET = 2000;
const ROUNDS = 200;
const TARGET_RATIO = 1.5;

const adminKey = `bench-digest-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-digest-"));
const loadAtStart = loadAverage1m();

async function seed(client: Client, id: string, keys: number): Promise<void> {
	await client.ok("POST", "/v1/sessions", { id, policy: { modelWindowTokens: 10_000_000 } });
	await client.ok("POST", sessionPath(id, "/events"), {
		events: Array.from({ length: 20 }, (_, index) => ({ type: "note", content: `step ${index}: looked at page ${index}` })),
	});
	const filler = "x".repeat(VALUE_BYTES);
	for (let start = 0; start < keys; start += 8) {
		await Promise.all(
			Array.from({ length: Math.min(8, keys - start) }, (_, offset) => client.ok("PUT", sessionPath(id, `/state/notes/k${start + offset}`), { value: `${start + offset} ${filler}` })),
		);
	}
	await drained(client, id, 120_000);
}

async function main(): Promise<void> {
	const startedAt = new Date();
	console.log(`edge-context state digest bench: ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`);
	const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir: path.join(workDir, "registry") });
	const host = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
	const client = new Client(host.url, adminKey);
	try {
		for (const keys of KEYS) await seed(client, `digest-${keys}`, keys);
		const samples = new Map<number, number[]>(KEYS.map((keys) => [keys, []]));
		const shapes = new Map<number, { items: number; used: number }>();
		for (let round = 0; round < ROUNDS + 20; round++) {
			for (const keys of round % 2 === 0 ? KEYS : [...KEYS].reverse()) {
				const response = await client.request("GET", sessionPath(`digest-${keys}`, `/context?budget=${BUDGET}`));
				if (response.status !== 200) throw new Error(`context answered ${response.status}`);
				if (round >= 20) samples.get(keys)?.push(response.ms);
				shapes.set(keys, { items: response.body.items.length, used: response.body.used });
			}
		}
		const figures = KEYS.map((keys) => ({ keys, latencyMs: stats(samples.get(keys) ?? []), window: shapes.get(keys) }));
		const ratio = { p50: figures[1].latencyMs.p50 / figures[0].latencyMs.p50, p95: figures[1].latencyMs.p95 / figures[0].latencyMs.p95 };
		console.log(`\nGET /context?budget=${BUDGET}, ${ROUNDS} sequential requests per session (interleaved):`);
		console.log(
			table([
				["state keys", "p50 ms", "p95 ms", "p99 ms", "items", "used"],
				...figures.map((row) => [String(row.keys), row.latencyMs.p50.toFixed(2), row.latencyMs.p95.toFixed(2), row.latencyMs.p99.toFixed(2), String(row.window?.items), String(row.window?.used)]),
			]),
		);
		const met = ratio.p50 <= TARGET_RATIO;
		console.log(`3000/10 keys: p50 ${ratio.p50.toFixed(2)}x, p95 ${ratio.p95.toFixed(2)}x (target p50 <= ${TARGET_RATIO}x: ${met ? "met" : "MISSED"})`);
		const output = { generatedAt: startedAt.toISOString(), machine: machine(loadAtStart), code: codeVersion(), budget: BUDGET, valueBytes: VALUE_BYTES, rounds: ROUNDS, figures, ratio, target: TARGET_RATIO, met };
		writeAtomically(path.join(projectRoot, "bench/results/digest-latest.json"), `${JSON.stringify(output, null, "\t")}\n`);
	} finally {
		client.close();
		await host.stop();
	}
}

await runMain(main, workDir);
