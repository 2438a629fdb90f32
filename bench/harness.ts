/**
 * What both benchmarks (bench/run.ts and bench/context.ts) record about a run and how they end
 * one: the machine, the tool versions and the code measured, result files written whole, and
 * the run's work dir removed when it succeeds (kept, with its logs and state, when it fails).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { projectRoot } from "./processes";

/** The 1-minute load average, to two decimals (Linux reports it so). */
export function loadAverage1m(): number {
	return Number(os.loadavg()[0].toFixed(2));
}

/** The machine a run measured on. */
export function machine(loadAverage1mAtStart: number) {
	return {
		cpus: os.cpus().length,
		cpuModel: os.cpus()[0]?.model ?? null,
		memoryGiB: Math.round(os.totalmem() / 2 ** 30),
		platform: `${os.platform()} ${os.release()}`,
		node: process.version,
		// Other work on the machine skews local timings (figures are noisier then); this says whether there was any.
		loadAverage1mAtStart,
	};
}

/** The installed version of one of the project's packages. */
export function packageVersion(name: string): string {
	// Read from node_modules: some packages (agents) do not export their package.json.
	return (JSON.parse(readFileSync(path.join(projectRoot, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

/** Which code was measured: the commit, and whether src/ differed from it. */
export function codeVersion(): { commit: string | null; srcModified: boolean | null } {
	try {
		const git = (...args: string[]) =>
			execFileSync("git", args, { cwd: projectRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
		return { commit: git("rev-parse", "--short", "HEAD"), srcModified: git("status", "--porcelain", "--", "src", "migrations").length > 0 };
	} catch {
		return { commit: null, srcModified: null };
	}
}

/** Written whole or not at all: a reader never sees half a file. */
export function writeAtomically(file: string, text: string): void {
	mkdirSync(path.dirname(file), { recursive: true });
	writeFileSync(`${file}.tmp`, text);
	renameSync(`${file}.tmp`, file);
}

/** Runs `main`; removes `workDir` if it succeeds, else reports the error, keeps `workDir` and sets exit code 1. */
export async function runMain(main: () => Promise<void>, workDir: string): Promise<void> {
	try {
		await main();
		rmSync(workDir, { recursive: true, force: true });
	} catch (error) {
		console.error(error);
		console.error(`Logs and state kept in ${workDir}`);
		process.exitCode = 1;
	}
}
