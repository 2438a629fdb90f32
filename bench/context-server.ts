/**
 * Miniflare and HTTP for bench/context.ts: the Miniflare host (bench/processes.ts's, in its own
 * process group), a keep-alive HTTP client that times each request, and the statistics the
 * report uses.
 */
import http from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { type MiniflareHostConfig, type MiniflareServer, startMiniflare } from "./processes";

// A SIGTERM to the run ends it as an exit, so bench/processes.ts stops every group it started.
process.once("SIGTERM", () => process.exit(143));

export type Host = MiniflareServer;

/** Starts a Miniflare host serving our Worker's bundle and waits for /healthz (polled every 50 ms). */
export function startHost(config: Omit<MiniflareHostConfig, "target">, logPath: string): Promise<Host> {
	return startMiniflare("Miniflare", { target: "ours", ...config }, logPath, 50);
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
