/**
 * `npm run bench:profile [-- --seconds N]`: where an append's and a tail read's CPU time goes
 * in our Worker and its Durable Object. Serves the deploy bundle with Miniflare (as the
 * `miniflare` mode of bench/peer.ts) with workerd's V8 inspector open, samples the isolate
 * (Worker and objects share it locally) with the CPU profiler while one client sends the
 * requests one at a time, and sums the samples by the source file esbuild's bundle names
 * (`// src/…` and `// node_modules/…` comments before each module). Writes
 * bench/results/profile-latest.json. The profiler's own overhead inflates every figure alike:
 * read the shares, not the milliseconds.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { call, type Target } from "./load";
import { buildBundle, freePort, projectRoot, startMiniflare } from "./processes";
import { messages } from "./scenarios";

const { values: flags } = parseArgs({ options: { seconds: { type: "string", default: "8" } }, strict: true });
const seconds = Number(flags.seconds);
const adminKey = `bench-admin-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-profile-"));
const loadAverageAtStart = loadAverage1m();

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface CpuProfile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

/** One CDP session over the inspector's WebSocket: send a method, await its result. */
async function inspect(port: number): Promise<{ send: (method: string, params?: object) => Promise<any>; close: () => void }> {
	const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string; title?: string; url?: string }>;
	const target = targets.find((candidate) => `${candidate.title ?? ""}${candidate.url ?? ""}${candidate.webSocketDebuggerUrl}`.includes("edge-context")) ?? targets[0];
	if (!target) throw new Error("the inspector lists no isolate");
	// Node 22's own WebSocket client.
	const socket = new WebSocket(target.webSocketDebuggerUrl);
	await new Promise((resolve, reject) => {
		socket.addEventListener("open", resolve, { once: true });
		socket.addEventListener("error", reject, { once: true });
	});
	let next = 0;
	const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
	socket.addEventListener("message", (event) => {
		const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
		const waiter = message.id === undefined ? undefined : pending.get(message.id);
		if (!waiter) return;
		pending.delete(message.id as number);
		if (message.error) waiter.reject(new Error(message.error.message));
		else waiter.resolve(message.result);
	});
	return {
		send: (method, params = {}) =>
			new Promise((resolve, reject) => {
				const id = ++next;
				pending.set(id, { resolve, reject });
				socket.send(JSON.stringify({ id, method, params }));
			}),
		close: () => socket.close(),
	};
}

/** The source file of each bundle line: the last `// path` comment esbuild wrote above it. */
function sourceByLine(bundlePath: string): (line: number) => string {
	const marks: Array<{ line: number; source: string }> = [];
	readFileSync(bundlePath, "utf8")
		.split("\n")
		.forEach((text, line) => {
			const match = /^\/\/ ((?:src|sdk|node_modules|bench)\/\S+)$/.exec(text.trim());
			if (match) marks.push({ line, source: match[1] });
		});
	return (line) => {
		let low = 0;
		let high = marks.length - 1;
		let found = "(bundle prelude)";
		while (low <= high) {
			const middle = (low + high) >> 1;
			if (marks[middle].line <= line) {
				found = marks[middle].source;
				low = middle + 1;
			} else high = middle - 1;
		}
		return found;
	};
}

/** Folders a reader thinks in: a package, or a folder of ours (src/session/kernel). */
function area(source: string): string {
	if (source.startsWith("node_modules/")) {
		const parts = source.split("/");
		return parts.slice(0, parts[1].startsWith("@") ? 3 : 2).join("/");
	}
	return source.split("/").slice(0, -1).join("/") || source;
}

interface Share {
	name: string;
	ms: number;
	share: number;
}

function summarize(profile: CpuProfile, bundlePath: string, requests: number) {
	const sourceOf = sourceByLine(bundlePath);
	const byId = new Map(profile.nodes.map((node) => [node.id, node]));
	const self = new Map<number, number>();
	profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000));
	const totalMs = [...self.values()].reduce((sum, ms) => sum + ms, 0);
	const bySource = new Map<string, number>();
	const byArea = new Map<string, number>();
	const byFunction = new Map<string, number>();
	for (const [id, ms] of self) {
		const frame = byId.get(id)?.callFrame;
		if (!frame) continue;
		const inBundle = frame.url.endsWith(path.basename(bundlePath));
		const source = inBundle ? sourceOf(frame.lineNumber) : frame.functionName ? "(runtime)" : `(${frame.url || "native"})`;
		const label = frame.functionName || "(anonymous)";
		const key = ["(idle)", "(program)", "(garbage collector)"].includes(label) ? label : source;
		bySource.set(key, (bySource.get(key) ?? 0) + ms);
		byArea.set(key.startsWith("(") ? key : area(key), (byArea.get(key.startsWith("(") ? key : area(key)) ?? 0) + ms);
		const functionKey = `${label} (${key})`;
		byFunction.set(functionKey, (byFunction.get(functionKey) ?? 0) + ms);
	}
	const busyMs = totalMs - (bySource.get("(idle)") ?? 0);
	const top = (map: Map<string, number>, count: number): Share[] =>
		[...map.entries()]
			.filter(([name]) => !name.startsWith("(idle)"))
			.sort((a, b) => b[1] - a[1])
			.slice(0, count)
			.map(([name, ms]) => ({ name, ms: Number((ms / requests).toFixed(4)), share: Number((ms / busyMs).toFixed(4)) }));
	return { sampledMs: Math.round(totalMs), busyMs: Math.round(busyMs), busyMsPerRequest: Number((busyMs / requests).toFixed(3)), areas: top(byArea, 20), files: top(bySource, 25), functions: top(byFunction, 25) };
}

async function profileScenario(port: number, bundlePath: string, name: string, send: () => Promise<unknown>) {
	for (let warm = 0; warm < 200; warm++) await send();
	const inspector = await inspect(port);
	try {
		await inspector.send("Profiler.enable");
		await inspector.send("Profiler.setSamplingInterval", { interval: 50 });
		await inspector.send("Profiler.start");
		const until = Date.now() + seconds * 1000;
		let requests = 0;
		const started = performance.now();
		while (Date.now() < until) {
			await send();
			requests++;
		}
		const wallMs = performance.now() - started;
		const { profile } = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
		return { scenario: name, requests, wallMsPerRequest: Number((wallMs / requests).toFixed(3)), ...summarize(profile, bundlePath, requests) };
	} finally {
		inspector.close();
	}
}

function print(result: Awaited<ReturnType<typeof profileScenario>>): void {
	const rows = (shares: Share[]) => shares.map((share) => `  ${(share.share * 100).toFixed(1).padStart(5)}%  ${share.ms.toFixed(3).padStart(7)} ms  ${share.name}`).join("\n");
	console.log(`\n${result.scenario}: ${result.requests} requests, ${result.wallMsPerRequest} ms each (profiled), isolate busy ${result.busyMsPerRequest} ms per request`);
	console.log(`by area (share of busy time, ms per request):\n${rows(result.areas)}`);
	console.log(`by function:\n${rows(result.functions.slice(0, 15))}`);
}

async function main(): Promise<void> {
	const registryDir = path.join(workDir, "registry");
	const bundlePath = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir });
	const inspectorPort = await freePort();
	const server = await startMiniflare(
		"ours (miniflare, inspector)",
		{ target: "ours", scriptPath: bundlePath, persistDir: path.join(workDir, "state"), adminKey, inspectorPort },
		path.join(workDir, "miniflare.log"),
	);
	try {
		const target: Target = { role: "ours", url: server.url, headers: { authorization: `Bearer ${adminKey}` } };
		const sessionId = "profiled";
		await call(target, "POST", "/v1/sessions", { id: sessionId });
		const events = `/v1/sessions/${sessionId}/events`;
		const body = messages(1);
		const append = await profileScenario(inspectorPort, bundlePath, "append", () => call(target, "POST", events, body));
		print(append);
		const tail = await profileScenario(inspectorPort, bundlePath, "read-tail", () => call(target, "GET", `${events}?after=180&limit=20`));
		print(tail);
		const file = path.join(projectRoot, "bench/results/profile-latest.json");
		writeAtomically(file, JSON.stringify({ machine: machine(loadAverageAtStart), code: codeVersion(), seconds, samplingIntervalUs: 50, results: [append, tail] }, null, 2));
		console.log(`\nwrote ${path.relative(projectRoot, file)}`);
	} finally {
		await server.stop();
	}
}

await runMain(main, workDir);
