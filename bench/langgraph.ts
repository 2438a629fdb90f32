/**
 * Calls and latency per LangGraph step through EdgeContextSaver, against the real Worker
 * bundled by `wrangler deploy --dry-run` and served by Miniflare (bench/miniflare-host.ts).
 * A linear graph of STEPS nodes runs on THREADS threads, one after another, with the default
 * (async) durability; every fetch the saver makes is counted. A step is one node's super-step,
 * timed from one streamed update to the next. Figures are local (no network), so they measure
 * our path, not Cloudflare's. The throwaway HTTP-only prototype needed about 22 calls per step.
 *
 *   npm run bench:langgraph  [-- --threads 20 --steps 10]
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { EdgeContextSaver } from "../sdk/src/langgraph";
import { buildBundle, startMiniflare } from "./processes";

const { values: args } = parseArgs({ options: { threads: { type: "string", default: "20" }, steps: { type: "string", default: "10" } } });
const THREADS = Number(args.threads);
const STEPS = Number(args.steps);
const ADMIN_KEY = "bench-langgraph-admin-key-0123456789";

const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-langgraph-"));
const scriptPath = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "build.log"), registryDir: path.join(workDir, "registry") });
const server = await startMiniflare("edge-context", { target: "ours", scriptPath, persistDir: path.join(workDir, "state"), adminKey: ADMIN_KEY }, path.join(workDir, "host.log"));
const baseUrl = server.url.replace(/\/$/, "");

try {
	const minted = await fetch(`${baseUrl}/v1/admin/keys`, {
		method: "POST",
		headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
		body: JSON.stringify({ role: "admin", tenant: "bench-langgraph" }),
	});
	if (!minted.ok) throw new Error(`minting a key: ${minted.status} ${await minted.text()}`);
	const { key } = (await minted.json()) as { key: string };

	const calls = new Map<string, number>();
	const countingFetch: typeof fetch = (input, init) => {
		const route = `${init?.method ?? "GET"} ${new URL(String(input)).pathname.replace(/^\/v1\/sessions\/[^/]+/, "/v1/sessions/:id")}`;
		calls.set(route, (calls.get(route) ?? 0) + 1);
		return fetch(input, init);
	};
	const saver = new EdgeContextSaver({ baseUrl, apiKey: key, fetch: countingFetch });

	const State = Annotation.Root({ log: Annotation<string[]>({ reducer: (left, right) => left.concat(right), default: () => [] }) });
	let builder = new StateGraph(State) as unknown as StateGraph<typeof State.spec, any, any, string>;
	for (let step = 0; step < STEPS; step++) builder = builder.addNode(`n${step}`, () => ({ log: [`n${step}`] }));
	builder = builder.addEdge(START, "n0");
	for (let step = 1; step < STEPS; step++) builder = builder.addEdge(`n${step - 1}`, `n${step}`);
	const graph = builder.addEdge(`n${STEPS - 1}`, END).compile({ checkpointer: saver });

	const stepMs: number[] = [];
	const total = performance.now();
	for (let thread = 0; thread < THREADS; thread++) {
		let last = performance.now();
		for await (const _update of await graph.stream({ log: [] }, { configurable: { thread_id: `bench-${thread}` }, streamMode: "updates" })) {
			const now = performance.now();
			stepMs.push(now - last);
			last = now;
		}
	}
	const elapsed = performance.now() - total;
	const steps = THREADS * STEPS;
	const allCalls = [...calls.values()].reduce((sum, count) => sum + count, 0);
	const sorted = [...stepMs].sort((a, b) => a - b);
	const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2);
	console.log(`LangGraph through EdgeContextSaver: ${THREADS} threads x ${STEPS} steps (Miniflare, local)`);
	console.log(`calls per step: ${(allCalls / steps).toFixed(2)} (${allCalls} calls; prototype: ~22)`);
	for (const [route, count] of [...calls].sort()) console.log(`  ${route}: ${count} (${(count / steps).toFixed(2)}/step)`);
	console.log(`latency per step ms: p50 ${at(50)}  p90 ${at(90)}  p99 ${at(99)}  max ${sorted.at(-1)?.toFixed(2)}  (mean ${(elapsed / steps).toFixed(2)} incl. each run's start)`);
} finally {
	await server.stop();
}
