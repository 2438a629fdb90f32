/**
 * `npm run bench:live`: how long a committed event takes to reach WebSocket subscribers of its
 * session, with 1, 100 and 1,000 subscribers on one session, against the
 * `wrangler deploy --dry-run` bundle served by Miniflare on 127.0.0.1. Latency is from the
 * moment the append request is sent to the moment each subscriber has the event; the append's
 * own round trip is printed beside it for scale. Also checks every subscriber got every event
 * once, in order. Writes bench/results/live-latest.json.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, sessionPath, startHost, stats, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const FANOUTS = [1, 100, 1000];
const APPENDS = 40;

const adminKey = `bench-live-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-live-"));
const loadAtStart = loadAverage1m();

interface Subscriber {
	socket: WebSocket;
	received: Map<number, number>;
	order: number[];
}

async function connect(url: string, id: string): Promise<Subscriber> {
	const address = new URL(sessionPath(id, "/subscribe?after=0"), url.replace("http", "ws"));
	// Node's WebSocket (undici) takes request headers in its second argument.
	const socket = new WebSocket(address, { headers: { authorization: `Bearer ${adminKey}` } } as unknown as string[]);
	const subscriber: Subscriber = { socket, received: new Map(), order: [] };
	socket.addEventListener("message", (message) => {
		const data = JSON.parse(String(message.data)) as { type: string; events?: Array<{ seq: number }> };
		for (const event of data.events ?? []) {
			subscriber.received.set(event.seq, performance.now());
			subscriber.order.push(event.seq);
		}
	});
	await new Promise<void>((resolve, reject) => {
		socket.addEventListener("open", () => resolve());
		socket.addEventListener("error", () => reject(new Error("websocket failed to open")));
	});
	return subscriber;
}

async function main(): Promise<void> {
	console.log(`edge-context live fan-out bench: ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`);
	const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir: path.join(workDir, "registry") });
	const host = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
	const client = new Client(host.url, adminKey);
	const rows: Array<{ subscribers: number; deliveryMs: ReturnType<typeof stats>; appendMs: ReturnType<typeof stats>; complete: boolean }> = [];
	try {
		for (const fanout of FANOUTS) {
			const id = `live-${fanout}`;
			await client.ok("POST", "/v1/sessions", { id });
			const subscribers: Subscriber[] = [];
			for (let start = 0; start < fanout; start += 50) {
				subscribers.push(...(await Promise.all(Array.from({ length: Math.min(50, fanout - start) }, () => connect(host.url, id)))));
			}
			await new Promise((resolve) => setTimeout(resolve, 500));
			const sentAt = new Map<number, number>();
			const appendMs: number[] = [];
			for (let seq = 1; seq <= APPENDS; seq++) {
				sentAt.set(seq, performance.now());
				const response = await client.request("POST", sessionPath(id, "/events"), { events: [{ type: "note", content: `event ${seq}` }] });
				if (response.status !== 201) throw new Error(`append answered ${response.status}`);
				appendMs.push(response.ms);
				await new Promise((resolve) => setTimeout(resolve, 20));
			}
			const deadline = performance.now() + 30_000;
			while (performance.now() < deadline && subscribers.some((subscriber) => subscriber.received.size < APPENDS)) await new Promise((resolve) => setTimeout(resolve, 50));
			const latencies = subscribers.flatMap((subscriber) => [...subscriber.received].map(([seq, at]) => at - (sentAt.get(seq) ?? at)));
			const complete = subscribers.every((subscriber) => subscriber.order.length === APPENDS && subscriber.order.every((seq, index) => seq === index + 1));
			rows.push({ subscribers: fanout, deliveryMs: stats(latencies), appendMs: stats(appendMs), complete });
			for (const subscriber of subscribers) subscriber.socket.close();
			console.log(`  ${fanout} subscribers: delivery p50 ${stats(latencies).p50.toFixed(2)} ms, every event once and in order: ${complete}`);
		}
		console.log(`\n${APPENDS} appends, one event each, 20 ms apart; latency from sending the append to each subscriber having it:`);
		console.log(
			table([
				["subscribers", "delivery p50 ms", "delivery p95 ms", "delivery p99 ms", "append p50 ms", "all events once, in order"],
				...rows.map((row) => [String(row.subscribers), row.deliveryMs.p50.toFixed(2), row.deliveryMs.p95.toFixed(2), row.deliveryMs.p99.toFixed(2), row.appendMs.p50.toFixed(2), String(row.complete)]),
			]),
		);
		writeAtomically(path.join(projectRoot, "bench/results/live-latest.json"), `${JSON.stringify({ generatedAt: new Date().toISOString(), machine: machine(loadAtStart), code: codeVersion(), appends: APPENDS, rows }, null, "\t")}\n`);
	} finally {
		client.close();
		await host.stop();
	}
}

await runMain(main, workDir);
