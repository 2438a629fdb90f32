/**
 * Crash-restart test against the real local runtime (`npm run test:faults`).
 *
 * Starts `wrangler dev` on a temporary persistence folder, runs concurrent simulated agents
 * (idempotent appends, compare-and-set chains, checkpoints) while SIGKILLing the whole
 * wrangler/workerd process group at random moments and restarting it on the same folder.
 * Clients retry whatever was in flight with the same Idempotency-Key. Then it checks the
 * history: every acknowledged append present exactly once, contiguous seqs, each key at its
 * last acknowledged write, compare-and-set linearizable, and the D1 index caught up.
 *
 *   npm run test:faults               # CI profile: ~40 s of load, 3 kills
 *   npm run test:faults -- --long     # ~3 min of load, 10 kills
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { runWrangler, type Server, startWranglerDev } from "../../bench/processes";
import { checkPerKey, type Operation, type RegisterInput, type RegisterOutput, registerModel } from "../linearizability/checker";

const long = process.argv.includes("--long");
const profile = long ? { loadMs: 180_000, kills: 10, agents: 8 } : { loadMs: 40_000, kills: 3, agents: 6 };
const ADMIN_KEY = "crash-test-admin-key-0123456789";
const SHARED_SESSION = "shared";
const CONTENDED_KEY = "leader";
const OVERALL_DEADLINE_MS = profile.loadMs + 240_000;

let seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
const initialSeed = seed;
function random(): number {
	seed = (seed * 1103515245 + 12345) & 0x7fffffff;
	return seed / 0x7fffffff;
}

/** The server's address, swapped on every restart; requests in flight fail and are retried. */
let server: Server;
let clock = 0;
const counts = { sent: 0, acknowledged: 0, refused: 0, retries: 0, kills: 0 };

interface Ack {
	status: number;
	body: any;
}

/**
 * Sends a request until it gets a definite answer (2xx or 4xx), retrying network errors and
 * 5xx with the same Idempotency-Key: exactly what an agent that lost its connection does.
 */
async function send(method: string, pathname: string, body?: unknown, idempotencyKey?: string): Promise<Ack> {
	counts.sent++;
	const deadline = Date.now() + 120_000;
	for (let attempt = 0; ; attempt++) {
		if (attempt > 0) counts.retries++;
		try {
			const response = await fetch(`${server.url}${pathname}`, {
				method,
				headers: {
					authorization: `Bearer ${ADMIN_KEY}`,
					...(body === undefined ? {} : { "content-type": "application/json" }),
					...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(10_000),
			});
			const text = await response.text();
			if (response.status < 500) {
				if (response.status < 300) counts.acknowledged++;
				else counts.refused++;
				return { status: response.status, body: text ? JSON.parse(text) : null };
			}
		} catch {
			// Connection refused or reset: the server is being killed or restarting.
		}
		if (Date.now() > deadline) throw new Error(`${method} ${pathname} got no answer for 120 s`);
		await delay(100 + Math.min(attempt, 10) * 100);
	}
}

interface AppendRecord {
	session: string;
	marker: string;
	parts: number;
	acknowledged: boolean;
}
type StateOperation = Operation<RegisterInput, RegisterOutput> & { key: string };

const appends: AppendRecord[] = [];
const stateHistory: StateOperation[] = [];
const casRefusals: Array<{ key: string; ifVersion: number; refusedAt: number }> = [];
let operationId = 0;

async function stateGet(key: string, client: number): Promise<number> {
	const invokedAt = ++clock;
	const response = await send("GET", `/v1/sessions/${SHARED_SESSION}/state/kv/${key}`);
	const output: RegisterOutput =
		response.status === 404 ? { kind: "missing" } : { kind: "value", value: response.body.value, version: response.body.version };
	stateHistory.push({ id: operationId++, client, invokedAt, completedAt: ++clock, input: { kind: "get" }, output, key });
	return output.kind === "value" ? output.version : 0;
}

async function compareAndSet(key: string, client: number, ifVersion: number, value: string): Promise<void> {
	const invokedAt = ++clock;
	const response = await send("PUT", `/v1/sessions/${SHARED_SESSION}/state/kv/${key}`, { value, ifVersion }, `cas-${value}`);
	const completedAt = ++clock;
	let output: RegisterOutput;
	if (response.status === 200) output = { kind: "written", version: response.body.version };
	else if (response.status === 409) {
		output = { kind: "conflict", currentVersion: response.body.error.details.currentVersion };
		casRefusals.push({ key, ifVersion, refusedAt: completedAt });
	} else throw new Error(`unexpected ${response.status} on compare-and-set: ${JSON.stringify(response.body)}`);
	stateHistory.push({ id: operationId++, client, invokedAt, completedAt, input: { kind: "cas", value, ifVersion }, output, key });
}

async function agent(index: number, until: number): Promise<void> {
	const own = `agent-${index}`;
	const created = await send("POST", "/v1/sessions", { id: own, agent: own }, `create-${own}`);
	if (created.status !== 201) throw new Error(`create ${own}: ${created.status} ${JSON.stringify(created.body)}`);
	let step = 0;
	while (Date.now() < until) {
		step++;
		const roll = random();
		if (roll < 0.55) {
			const session = random() < 0.5 ? own : SHARED_SESSION;
			const marker = `${own}#${step}`;
			const record: AppendRecord = { session, marker, parts: 1 + Math.floor(random() * 3), acknowledged: false };
			appends.push(record);
			const events = Array.from({ length: record.parts }, (_, part) => ({ type: "note", content: `${marker}.${part}` }));
			const response = await send("POST", `/v1/sessions/${session}/events`, { events }, `append-${marker}`);
			if (response.status !== 201) throw new Error(`append ${marker}: ${response.status} ${JSON.stringify(response.body)}`);
			record.acknowledged = true;
		} else if (roll < 0.93) {
			const key = random() < 0.5 ? CONTENDED_KEY : own;
			const version = await stateGet(key, index);
			await compareAndSet(key, index, version, `${own}@${step}`);
		} else {
			const response = await send("POST", `/v1/sessions/${own}/checkpoints`, { name: `cp-${step}` }, `checkpoint-${own}-${step}`);
			if (response.status !== 201) throw new Error(`checkpoint: ${response.status} ${JSON.stringify(response.body)}`);
		}
	}
}

async function startServer(persistDir: string, registryDir: string, logPath: string): Promise<Server> {
	return startWranglerDev({
		name: "edge-context",
		configPath: "wrangler.toml",
		persistDir,
		registryDir,
		logPath,
		env: { X_LOCAL_OBSERVABILITY: "false" },
		vars: { ADMIN_API_KEY: ADMIN_KEY },
	});
}

async function killer(until: number, restart: () => Promise<void>): Promise<void> {
	const gap = (until - Date.now()) / (profile.kills + 1);
	for (let kill = 0; kill < profile.kills; kill++) {
		// A random moment in each slice, so kills land on every kind of in-flight work.
		await delay(gap * (0.5 + random()));
		await server.kill();
		counts.kills++;
		await delay(200 + random() * 800);
		await restart();
	}
}

async function allEvents(session: string): Promise<Array<{ seq: number; content: string }>> {
	const events: Array<{ seq: number; content: string }> = [];
	for (let after = 0; ; ) {
		const page = await send("GET", `/v1/sessions/${session}/events?after=${after}&limit=1000`);
		events.push(...page.body.events);
		if (page.body.nextAfter === null) return events;
		after = page.body.nextAfter;
	}
}

interface Verdict {
	lost: number;
	duplicated: number;
	gaps: number;
	torn: number;
	stateMismatches: number;
	staleAccepted: number;
	violations: number;
	indexMismatches: number;
}

async function verify(sessions: string[]): Promise<Verdict> {
	let lost = 0;
	let duplicated = 0;
	let gaps = 0;
	let torn = 0;
	for (const session of sessions) {
		const events = await allEvents(session);
		if (events.some((event, index) => event.seq !== index + 1)) gaps++;
		const copies = new Map<string, number>();
		for (const event of events) copies.set(event.content, (copies.get(event.content) ?? 0) + 1);
		for (const count of copies.values()) if (count > 1) duplicated++;
		for (const record of appends.filter((candidate) => candidate.session === session)) {
			const present = Array.from({ length: record.parts }, (_, part) => copies.has(`${record.marker}.${part}`));
			if (record.acknowledged && !present.every(Boolean)) lost++;
			// A batch is atomic: all of its events or none, even when the answer never came.
			if (present.some(Boolean) && !present.every(Boolean)) torn++;
		}
	}

	// Each key ends at its last acknowledged write (every write was retried to an answer). The last
	// write is the one with the highest version, not the last to be answered: a write committed just
	// before a kill is answered only when its retry replays, possibly after later writes were answered.
	let stateMismatches = 0;
	for (const key of new Set(stateHistory.map((operation) => operation.key))) {
		const writes = stateHistory.filter((operation) => operation.key === key && operation.output.kind === "written");
		const versionOf = (operation: StateOperation) => (operation.output as { version: number }).version;
		const last = writes.sort((a, b) => versionOf(a) - versionOf(b)).at(-1);
		const current = await send("GET", `/v1/sessions/${SHARED_SESSION}/state/kv/${key}`);
		if (last && (current.body?.version !== versionOf(last) || current.body?.value !== (last.input as { value: string }).value)) {
			stateMismatches++;
			const expected = { version: versionOf(last), value: (last.input as { value: string }).value };
			console.error(`faults: key ${key} ends at ${JSON.stringify(current.body)}, last write was ${JSON.stringify(expected)}`);
		}
	}
	// No compare-and-set on a version that had been refused as stale succeeded afterwards.
	const staleAccepted = casRefusals.filter((refusal) =>
		stateHistory.some(
			(operation) =>
				operation.key === refusal.key &&
				operation.input.kind === "cas" &&
				operation.input.ifVersion === refusal.ifVersion &&
				operation.output.kind === "written" &&
				operation.invokedAt > refusal.refusedAt,
		),
	).length;
	const results = checkPerKey(stateHistory, (operation) => (operation as StateOperation).key, registerModel);
	const violations = [...results.values()].filter((result) => !result.linearizable).length;

	// The D1 index catches up with the objects once their alarms have drained the outboxes.
	let indexMismatches = sessions.length;
	const deadline = Date.now() + 90_000;
	while (indexMismatches > 0 && Date.now() < deadline) {
		indexMismatches = 0;
		const listed = await send("GET", "/v1/sessions?limit=200");
		for (const session of sessions) {
			const truth = await send("GET", `/v1/sessions/${session}`);
			const row = listed.body.sessions.find((candidate: { id: string }) => candidate.id === session);
			if (!row || row.version !== truth.body.version || row.eventCount !== truth.body.eventCount) indexMismatches++;
		}
		if (indexMismatches > 0) await delay(1000);
	}
	return { lost, duplicated, gaps, torn, stateMismatches, staleAccepted, violations, indexMismatches };
}

async function main(): Promise<number> {
	const workDir = mkdtempSync(path.join(tmpdir(), "edge-context-faults-"));
	const persistDir = path.join(workDir, "state");
	const registryDir = path.join(workDir, "registry");
	const logPath = path.join(workDir, "wrangler.log");
	const watchdog = setTimeout(() => {
		console.error(`faults: overall deadline of ${OVERALL_DEADLINE_MS / 1000} s passed`);
		process.exit(2);
	}, OVERALL_DEADLINE_MS);
	try {
		await runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], { logPath, registryDir });
		server = await startServer(persistDir, registryDir, logPath);
		const shared = await send("POST", "/v1/sessions", { id: SHARED_SESSION }, "create-shared");
		if (shared.status !== 201) throw new Error(`create shared: ${shared.status}`);

		const until = Date.now() + profile.loadMs;
		const started = Date.now();
		await Promise.all([
			...Array.from({ length: profile.agents }, (_, index) => agent(index, until)),
			killer(until, async () => {
				server = await startServer(persistDir, registryDir, logPath);
			}),
		]);
		const sessions = [SHARED_SESSION, ...Array.from({ length: profile.agents }, (_, index) => `agent-${index}`)];
		const result = await verify(sessions);
		const summary = {
			seed: initialSeed,
			seconds: Math.round((Date.now() - started) / 1000),
			operationsSent: counts.sent,
			acknowledged: counts.acknowledged,
			refused: counts.refused,
			retries: counts.retries,
			killsSurvived: counts.kills,
			appendsAcknowledged: appends.filter((record) => record.acknowledged).length,
			stateOperationsChecked: stateHistory.length,
			...result,
		};
		console.log(`faults: ${JSON.stringify(summary)}`);
		const failed =
			Object.values(result).some((count) => count > 0) ||
			counts.kills < profile.kills;
		console.log(failed ? "faults: FAILED" : "faults: 1 passed, 0 failed");
		return failed ? 1 : 0;
	} finally {
		clearTimeout(watchdog);
		await server?.stop();
		rmSync(workDir, { recursive: true, force: true });
	}
}

process.exitCode = await main().catch((error: unknown) => {
	console.error(error);
	return 1;
});
