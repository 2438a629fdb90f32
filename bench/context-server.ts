/**
 * Processes and HTTP for bench/context.ts: the deploy bundle, Miniflare hosts in their own
 * process groups (stopping one stops the workerd it started and nothing else), a keep-alive
 * HTTP client that times each request, and the statistics the report uses.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, readFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ContextHostConfig } from "./context-host";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.dirname(benchDir);

/** Process groups still running: however the run ends, none of them outlives it. */
const running = new Set<number>();
process.once("exit", () => {
	for (const pid of running) signalGroup(pid, "SIGKILL");
});
process.once("SIGINT", () => process.exit(130));
process.once("SIGTERM", () => process.exit(143));

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
	}
}

function spawnGroup(args: string[], logPath: string, ipc: boolean, env: NodeJS.ProcessEnv = process.env): ChildProcess {
	const log = openSync(logPath, "a");
	const child = spawn(process.execPath, args, {
		cwd: projectRoot,
		env,
		detached: true,
		stdio: ipc ? ["ignore", log, log, "ipc"] : ["ignore", log, log],
	});
	if (child.pid === undefined) throw new Error(`could not start ${args.join(" ")}`);
	const pid = child.pid;
	running.add(pid);
	child.once("exit", () => running.delete(pid));
	return child;
}

async function stopGroup(child: ChildProcess): Promise<void> {
	const pid = child.pid as number;
	if (child.exitCode === null && child.signalCode === null) {
		signalGroup(pid, "SIGTERM");
		await Promise.race([once(child, "exit"), delay(5_000)]);
	}
	// workerd can outlive its parent: make sure the whole group is gone.
	signalGroup(pid, "SIGKILL");
	running.delete(pid);
}

function logTail(logPath: string): string {
	return readFileSync(logPath, "utf8").split("\n").slice(-30).join("\n");
}

/** `wrangler deploy --dry-run`: what Miniflare serves is exactly what would be uploaded. */
export async function buildBundle(outDir: string, logPath: string, registryDir: string): Promise<string> {
	const wrangler = path.join(path.dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin/wrangler.js");
	const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", WRANGLER_REGISTRY_PATH: registryDir };
	const child = spawnGroup([wrangler, "deploy", "--dry-run", "--config", "wrangler.toml", "--outdir", outDir], logPath, false, env);
	const [code] = (await once(child, "exit")) as [number | null];
	if (code !== 0) throw new Error(`wrangler deploy --dry-run exited with ${code}:\n${logTail(logPath)}`);
	return path.join(outDir, "index.js");
}

export interface Host {
	url: string;
	/** Milliseconds from spawn to the first 200 of /healthz. */
	startMs: number;
	stop(): Promise<void>;
}

/** Starts bench/context-host.ts in its own process group and waits for /healthz. */
export async function startHost(config: ContextHostConfig, logPath: string): Promise<Host> {
	const started = performance.now();
	const child = spawnGroup(["--import", "tsx", path.join(benchDir, "context-host.ts"), JSON.stringify(config)], logPath, true);
	try {
		const url = await new Promise<string>((resolve, reject) => {
			child.once("message", (message: { url: string }) => resolve(message.url));
			child.once("exit", () => reject(new Error(`Miniflare exited during start-up:\n${logTail(logPath)}`)));
		});
		child.disconnect();
		const deadline = Date.now() + 90_000;
		for (;;) {
			if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Miniflare exited:\n${logTail(logPath)}`);
			if (Date.now() > deadline) throw new Error(`Miniflare not healthy after 90 s:\n${logTail(logPath)}`);
			try {
				const response = await fetch(new URL("/healthz", url));
				await response.body?.cancel();
				if (response.ok) break;
			} catch {
				// Not listening yet.
			}
			await delay(50);
		}
		return { url, startMs: performance.now() - started, stop: () => stopGroup(child) };
	} catch (error) {
		await stopGroup(child);
		throw error;
	}
}

export interface Timed<T = unknown> {
	status: number;
	body: T;
	/** Request written to full response body read, in milliseconds. */
	ms: number;
	bytes: number;
}

/**
 * A keep-alive HTTP/1.1 client on loopback, one socket per concurrent caller: the same
 * connection is reused, so a measured request never pays for a TCP handshake.
 */
export class Client {
	private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
	private readonly base: URL;

	constructor(
		url: string,
		private readonly key: string,
	) {
		this.base = new URL(url);
	}

	request<T = any>(method: string, pathname: string, body?: unknown): Promise<Timed<T>> {
		const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
		const headers: Record<string, string | number> = { authorization: `Bearer ${this.key}` };
		if (payload) {
			headers["content-type"] = "application/json";
			headers["content-length"] = payload.length;
		}
		return new Promise((resolve, reject) => {
			const started = performance.now();
			const req = http.request(
				{ host: this.base.hostname, port: this.base.port, method, path: pathname, headers, agent: this.agent },
				(res) => {
					const chunks: Buffer[] = [];
					res.on("data", (chunk: Buffer) => chunks.push(chunk));
					res.on("end", () => {
						const ms = performance.now() - started;
						const text = Buffer.concat(chunks).toString("utf8");
						let parsed: unknown = text;
						try {
							parsed = text ? JSON.parse(text) : null;
						} catch {
							// Not JSON: keep the text.
						}
						resolve({ status: res.statusCode ?? 0, body: parsed as T, ms, bytes: Buffer.byteLength(text) });
					});
					res.on("error", reject);
				},
			);
			req.on("error", reject);
			req.end(payload);
		});
	}

	/** A request that must answer 2xx; returns its body. */
	async ok<T = any>(method: string, pathname: string, body?: unknown): Promise<T> {
		const response = await this.request<T>(method, pathname, body);
		if (response.status < 200 || response.status >= 300) {
			throw new Error(`${method} ${pathname} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 500)}`);
		}
		return response.body;
	}

	close(): void {
		this.agent.destroy();
	}
}

export const sessionPath = (id: string, rest = "") => `/v1/sessions/${encodeURIComponent(id)}${rest}`;

/** Polls GET /v1/sessions/:id until `done` holds or `timeoutMs` passes; returns the last view. */
export async function pollSession(
	client: Client,
	id: string,
	done: (session: any) => boolean,
	timeoutMs: number,
	intervalMs = 100,
): Promise<{ session: any; met: boolean; waitedMs: number }> {
	const started = performance.now();
	for (;;) {
		const session = await client.ok("GET", sessionPath(id));
		if (done(session)) return { session, met: true, waitedMs: performance.now() - started };
		if (performance.now() - started > timeoutMs) return { session, met: false, waitedMs: performance.now() - started };
		await delay(intervalMs);
	}
}

/** Waits until the session's D1 projection has caught up (its alarm is then idle). */
export function drained(client: Client, id: string, timeoutMs = 60_000) {
	return pollSession(client, id, (session) => session.projection?.pending === 0, timeoutMs);
}

export interface Stats {
	n: number;
	p50: number;
	p95: number;
	p99: number;
	mean: number;
	min: number;
	max: number;
}

/** Nearest-rank percentiles of a sample, in its unit (milliseconds here). */
export function stats(values: number[]): Stats {
	const sorted = [...values].sort((a, b) => a - b);
	const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
	return {
		n: sorted.length,
		p50: rank(50),
		p95: rank(95),
		p99: rank(99),
		mean: sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1),
		min: sorted[0] ?? Number.NaN,
		max: sorted.at(-1) ?? Number.NaN,
	};
}

export function median(values: number[]): number {
	return stats(values).p50;
}

/** An aligned text table: first row is the header. */
export function table(rows: string[][], rightAligned: (column: number) => boolean = (column) => column > 0): string {
	const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
	const line = (row: string[]) =>
		row
			.map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
			.join("  ")
			.trimEnd();
	return [line(rows[0]), line(widths.map((width) => "-".repeat(width))), ...rows.slice(1).map(line)].join("\n");
}
