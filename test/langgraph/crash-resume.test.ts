/**
 * A graph process is SIGKILLed in the middle of a step; a new process resumes the thread from
 * the last checkpoint, stops at the graph's interrupt(), and a third one answers it and
 * finishes. The step that completed before the kill is not run again.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freshTenantKey, workerUrl } from "./helpers";

const tsx = path.resolve(import.meta.dirname, "../../node_modules/.bin/tsx");
const script = path.join(import.meta.dirname, "interrupt-graph.ts");

function run(key: string, thread: string, action: string, env: Record<string, string> = {}) {
	const child = spawn(tsx, [script, workerUrl, key, thread, action], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
	let out = "";
	let err = "";
	child.stdout.on("data", (chunk) => (out += chunk));
	child.stderr.on("data", (chunk) => (err += chunk));
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
	return {
		child,
		exited,
		result: async () => {
			const { code } = await exited;
			if (code !== 0) throw new Error(`graph process exited with ${code}: ${err}`);
			return JSON.parse(out.trim().split("\n").at(-1) as string) as { steps: string[]; interrupted: unknown[] };
		},
	};
}

test("a graph killed mid-step resumes in a new process, stops at its interrupt and finishes", async () => {
	const key = await freshTenantKey();
	const thread = `crash-${Date.now()}`;
	const marker = path.join(mkdtempSync(path.join(tmpdir(), "lg-crash-")), "in-work");

	const first = run(key, thread, "start", { HANG_IN_WORK: marker });
	const deadline = Date.now() + 60_000;
	while (!existsSync(marker)) {
		if (Date.now() > deadline) throw new Error("the graph never reached its work step");
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	// tsx runs the graph in a node process of its own: the marker names it, and the whole group dies.
	const graphPid = readFileSync(marker, "utf8");
	process.kill(Number(graphPid), "SIGKILL");
	first.child.kill("SIGKILL");
	expect((await first.exited).signal).toBe("SIGKILL");

	const resumed = await run(key, thread, "continue").result();
	expect(resumed.interrupted).toEqual(["approve the work?"]);
	// plan ran once, in the killed process: its checkpoint carried the thread over.
	expect(resumed.steps).toEqual([`plan@${graphPid}`, "work"]);

	const finished = await run(key, thread, "resume:approved").result();
	expect(finished.steps).toEqual([`plan@${graphPid}`, "work", "review:approved", "finish"]);
	expect(finished.interrupted).toEqual([]);
}, 120_000);
