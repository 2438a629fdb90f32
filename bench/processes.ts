/**
 * Child processes of the benchmarks (bench/run.ts and bench/context.ts): wrangler commands,
 * deploy bundles, `wrangler dev` servers and Miniflare hosts. Every server runs in its own
 * process group (wrangler dev starts node and workerd children), so stopping one stops all it
 * started and nothing else.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.dirname(benchDir);
const wranglerBin = path.join(path.dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin/wrangler.js");

/** Environment for every wrangler run: no prompts, no telemetry, no shared dev registry. */
function wranglerEnv(extra: Record<string, string>, registryDir: string): NodeJS.ProcessEnv {
	return { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", WRANGLER_REGISTRY_PATH: registryDir, ...extra };
}

/** A server the benchmark started; `stop` ends its whole process group. */
export interface Server {
	name: string;
	url: string;
	logPath: string;
	/** The process group's id: what the server and its children (workerd) are counted by. */
	pid: number;
	stop(): Promise<void>;
	/** SIGKILL to the whole group at once, as a crash would: no chance to flush or clean up. */
	kill(): Promise<void>;
}

/** Groups still running: however the run ends (an error, Ctrl-C), none of them outlives it. */
const running = new Set<number>();

process.once("exit", () => {
	for (const pid of running) signalGroup(pid, "SIGKILL");
});
process.once("SIGINT", () => process.exit(130));

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
	}
}

function spawnGroup(args: string[], options: { env: NodeJS.ProcessEnv; logPath: string; ipc?: boolean }): ChildProcess {
	const log = openSync(options.logPath, "a");
	const child = spawn(process.execPath, args, {
		cwd: projectRoot,
		env: options.env,
		detached: true,
		stdio: options.ipc ? ["ignore", log, log, "ipc"] : ["ignore", log, log],
	});
	if (child.pid === undefined) throw new Error(`could not start ${args.join(" ")}`);
	running.add(child.pid);
	child.once("exit", () => running.delete(child.pid as number));
	return child;
}

async function killGroup(child: ChildProcess): Promise<void> {
	signalGroup(child.pid as number, "SIGKILL");
	if (child.exitCode === null && child.signalCode === null) await Promise.race([once(child, "exit"), delay(5_000)]);
	running.delete(child.pid as number);
}

/** SIGTERM to the group, then SIGKILL: workerd children can outlive their parent. */
async function stopGroup(child: ChildProcess): Promise<void> {
	const pid = child.pid as number;
	if (child.exitCode === null && child.signalCode === null) {
		signalGroup(pid, "SIGTERM");
		await Promise.race([once(child, "exit"), delay(5_000)]);
	}
	signalGroup(pid, "SIGKILL");
	running.delete(pid);
}

function logTail(logPath: string): string {
	return readFileSync(logPath, "utf8").split("\n").slice(-30).join("\n");
}

/** Runs a wrangler command to completion; throws with its output if it fails. */
export async function runWrangler(args: string[], options: { logPath: string; registryDir: string }): Promise<void> {
	const child = spawnGroup([wranglerBin, ...args], { env: wranglerEnv({}, options.registryDir), logPath: options.logPath });
	const [code] = (await once(child, "exit")) as [number | null];
	running.delete(child.pid as number);
	if (code !== 0) throw new Error(`wrangler ${args.join(" ")} exited with ${code}:\n${logTail(options.logPath)}`);
}

/**
 * `wrangler deploy --dry-run` of one config into `outDir`: what Miniflare serves is exactly
 * what would be uploaded. `entry` replaces the config's `main` (a bench-only wrapper served
 * with the same bindings). Returns the bundle's entry module, named after the entry.
 */
export async function buildBundle(
	configPath: string,
	outDir: string,
	options: { logPath: string; registryDir: string; entry?: string },
): Promise<string> {
	await runWrangler(["deploy", "--dry-run", "--config", configPath, "--outdir", outDir, ...(options.entry ? [options.entry] : [])], options);
	const modules = readdirSync(outDir).filter((name) => name.endsWith(".js"));
	if (modules.length !== 1) throw new Error(`expected one module in ${outDir}, found ${modules.join(", ") || "none"}`);
	return path.join(outDir, modules[0]);
}

/** A port that was free a moment ago on 127.0.0.1 (wrangler dev needs one up front). */
export async function freePort(): Promise<number> {
	const server = createServer();
	server.listen(0, "127.0.0.1");
	await once(server, "listening");
	const address = server.address();
	server.close();
	if (address === null || typeof address === "string") throw new Error("no port");
	return address.port;
}

/** Polls /healthz every `pollMs` until it answers 200, failing early if the process dies. */
async function waitHealthy(name: string, url: string, child: ChildProcess, logPath: string, pollMs = 100): Promise<void> {
	const deadline = Date.now() + 90_000;
	while (Date.now() < deadline) {
		if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited during start-up:\n${logTail(logPath)}`);
		try {
			const response = await fetch(new URL("/healthz", url));
			await response.body?.cancel();
			if (response.ok) return;
		} catch {
			// Not listening yet.
		}
		await delay(pollMs);
	}
	throw new Error(`${name} was not healthy after 90 s:\n${logTail(logPath)}`);
}

export interface WranglerDevOptions {
	name: string;
	configPath: string;
	persistDir: string;
	registryDir: string;
	logPath: string;
	/** Extra environment, e.g. X_LOCAL_OBSERVABILITY=false. */
	env: Record<string, string>;
	/** `--var` overrides; they take precedence over .dev.vars. */
	vars: Record<string, string>;
}

/** Starts `wrangler dev` on 127.0.0.1 with its own persistence dir and waits until healthy. */
export async function startWranglerDev(options: WranglerDevOptions): Promise<Server> {
	const [port, inspectorPort] = [await freePort(), await freePort()];
	const args = [
		wranglerBin,
		"dev",
		"--config",
		options.configPath,
		"--ip",
		"127.0.0.1",
		"--port",
		String(port),
		"--inspector-ip",
		"127.0.0.1",
		"--inspector-port",
		String(inspectorPort),
		"--persist-to",
		options.persistDir,
		"--show-interactive-dev-session=false",
		...Object.entries(options.vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
	];
	const child = spawnGroup(args, { env: wranglerEnv(options.env, options.registryDir), logPath: options.logPath });
	const url = `http://127.0.0.1:${port}`;
	try {
		await waitHealthy(options.name, url, child, options.logPath);
	} catch (error) {
		await stopGroup(child);
		throw error;
	}
	return { name: options.name, url, logPath: options.logPath, pid: child.pid as number, stop: () => stopGroup(child), kill: () => killGroup(child) };
}

/** What bench/miniflare-host.ts needs to serve one bundled Worker. */
export interface MiniflareHostConfig {
	/** Which bindings to serve it with: ours (also our row-counting build), the floor, or the agents/sessions peer. */
	target: "ours" | "floor" | "peer";
	/** The bundle from `wrangler deploy --dry-run --outdir`. */
	scriptPath: string;
	/** May hold the state of an earlier host: the D1 migrations are applied only to an empty database. */
	persistDir: string;
	/** ADMIN_API_KEY for our Worker. */
	adminKey: string;
	/** The peer counts the rows its object is billed for (row-count phase only, never under load). */
	countRows?: boolean;
	/** Opens workerd's V8 inspector on this port (bench/profile.ts). */
	inspectorPort?: number;
	/**
	 * Keep the session objects (ours or the floor's) in memory while the host runs. Miniflare evicts an object after
	 * 10 s without a request (production keeps it longer), so a load spread over more sessions
	 * than it reaches in 10 s would otherwise start an object on nearly every request.
	 */
	preventEviction?: boolean;
}

/** A Miniflare host, with how long it took to start. */
export interface MiniflareServer extends Server {
	/** Milliseconds from spawn to the first 200 of /healthz. */
	startMs: number;
}

/**
 * Starts bench/miniflare-host.ts in a child process (so its log handling never shares the
 * client's event loop) and waits until /healthz answers, polling every `pollMs`. A later host
 * may be started on the same `persistDir`: it serves the state the earlier one left.
 */
export async function startMiniflare(name: string, config: MiniflareHostConfig, logPath: string, pollMs = 100): Promise<MiniflareServer> {
	const started = performance.now();
	const host = path.join(benchDir, "miniflare-host.ts");
	const child = spawnGroup(["--import", "tsx", host, JSON.stringify(config)], { env: process.env, logPath, ipc: true });
	try {
		const url = await new Promise<string>((resolve, reject) => {
			child.once("message", (message: { url: string }) => resolve(message.url));
			child.once("exit", () => reject(new Error(`${name} exited during start-up:\n${logTail(logPath)}`)));
		});
		child.disconnect();
		await waitHealthy(name, url, child, logPath, pollMs);
		return { name, url, logPath, pid: child.pid as number, startMs: performance.now() - started, stop: () => stopGroup(child), kill: () => killGroup(child) };
	} catch (error) {
		await stopGroup(child);
		throw error;
	}
}
