/**
 * `npm run bench:retention`: whether archiving by age keeps a session's hot storage flat under a
 * steady write load. Two sessions on one Miniflare host (127.0.0.1) get the same appends, round
 * after round: one with `retention.archiveAfterDays: 0` (each event moves to an R2 segment as
 * soon as its timer runs), one without. After every few rounds it reads `storage` from
 * GET /v1/sessions/{id}: hotBytes is the object's SQLite database, archivedBytes what is in R2.
 * Writes bench/results/retention-latest.json.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { Client, sessionPath, startHost, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const ROUNDS = 60;
const EVENTS_PER_ROUND = 25;
const SAMPLE_EVERY = 10;
const EVENT_BYTES = 2000;

const adminKey = `bench-retention-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-retention-"));
const loadAtStart = loadAverage1m();

async function main(): Promise<void> {
	console.log(`edge-context retention bench: ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`);
	const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir: path.join(workDir, "registry") });
	const host = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
	const client = new Client(host.url, adminKey);
	const sessions = { archiving: "archiving", plain: "plain" } as const;
	try {
		// Compaction would also move events out: keep it away, so only archiving differs.
		const policy = { keepRecentEvents: 10_000, modelWindowTokens: 10_000_000 };
		await client.ok("POST", "/v1/sessions", { id: sessions.archiving, policy: { ...policy, retention: { archiveAfterDays: 0 } } });
		await client.ok("POST", "/v1/sessions", { id: sessions.plain, policy });
		const samples: Array<{ round: number; events: number; archiving: { hotBytes: number; archivedBytes: number }; plain: { hotBytes: number; archivedBytes: number } }> = [];
		for (let round = 1; round <= ROUNDS; round++) {
			const events = Array.from({ length: EVENTS_PER_ROUND }, (_, index) => ({ type: "note", content: `round ${round} event ${index}: ${"x".repeat(EVENT_BYTES)}` }));
			for (const id of Object.values(sessions)) await client.ok("POST", sessionPath(id, "/events"), { events });
			if (round % SAMPLE_EVERY !== 0) continue;
			// Let the archive timer (an alarm, due at once) catch up before measuring.
			await delay(1500);
			const [archiving, plain] = await Promise.all(Object.values(sessions).map((id) => client.ok("GET", sessionPath(id)).then((session) => session.storage)));
			samples.push({ round, events: round * EVENTS_PER_ROUND, archiving, plain });
		}
		const kib = (bytes: number) => (bytes / 1024).toFixed(0);
		console.log(`\n${ROUNDS} rounds of ${EVENTS_PER_ROUND} events of ~${EVENT_BYTES} bytes to each session:`);
		console.log(
			table([
				["events", "hot KiB (archiving)", "in R2 KiB (archiving)", "hot KiB (no archiving)"],
				...samples.map((sample) => [String(sample.events), kib(sample.archiving.hotBytes), kib(sample.archiving.archivedBytes), kib(sample.plain.hotBytes)]),
			]),
		);
		const first = samples[0];
		const last = samples[samples.length - 1];
		console.log(
			`\nhot storage from ${first.events} to ${last.events} events: archiving ${(last.archiving.hotBytes / first.archiving.hotBytes).toFixed(2)}x, no archiving ${(last.plain.hotBytes / first.plain.hotBytes).toFixed(2)}x`,
		);
		writeAtomically(
			path.join(projectRoot, "bench/results/retention-latest.json"),
			`${JSON.stringify({ generatedAt: new Date().toISOString(), machine: machine(loadAtStart), code: codeVersion(), rounds: ROUNDS, eventsPerRound: EVENTS_PER_ROUND, eventBytes: EVENT_BYTES, samples }, null, "\t")}\n`,
		);
	} finally {
		client.close();
		await host.stop();
	}
}

await runMain(main, workDir);
