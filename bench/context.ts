/**
 * `npx tsx bench/context.ts [--quick]` (or `npm run bench:context`): the context engine's
 * benchmark, against the `wrangler deploy --dry-run` bundle served by Miniflare on 127.0.0.1.
 *
 *   1. context assembly latency at 1k, 10k and 100k events, same budget (target: p50 at 100k
 *      under 1.5x p50 at 1k), next to requests that do no assembly, for scale; other budgets;
 *      and the window rebuilt as of earlier versions (`at=V`) at several depths;
 *   2. append throughput and latency on a session its alarm keeps compacting, against the same
 *      load on a session that never compacts;
 *   3. the compaction token-reduction ratio on a realistic research-agent transcript: manual,
 *      with an agent-written summary, and by the alarm under a small model window;
 *   4. the tokenizer's cold start: the first append of a fresh Miniflare process against the
 *      later ones (and the first context read, which must not load it).
 *
 * Prints tables; writes bench/results/context-latest.json and bench/results/context-latency.svg.
 * See bench/CONTEXT.md for a reading of the figures.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import { latencySvg } from "./context-plot";
import { Client, drained, type Host, median, pollSession, sessionPath, type Stats, startHost, stats, table } from "./context-server";
import { AGENT_SUMMARY, type AgentEvent, prng, researchTranscript, smallEvents, smallTurnEvents } from "./context-transcript";
import { codeVersion, loadAverage1m, machine, packageVersion, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false } }, strict: true });
const quick = flags.quick;

const SETTINGS = {
	sizes: [1_000, 10_000, 100_000],
	budget: 8_000,
	/** Other budgets on the longest session: the cost should follow the budget. */
	budgetSweep: [2_000, 32_000],
	batch: 500,
	/** Sequential GET /context per size (and per baseline), interleaved in shuffled rounds. */
	rounds: quick ? 60 : 500,
	warmup: quick ? 10 : 30,
	ratioTarget: 1.5,
	/** Sequential requests per depth for at=V further back in the 100k session's history. */
	depthRequests: quick ? 10 : 40,
	/** Append load: seconds per session and concurrency, in alternating slices. */
	appendSeconds: quick ? 4 : 20,
	appendSlices: quick ? 4 : 10,
	appendConcurrency: [1, 4],
	compactingPolicy: { modelWindowTokens: 8_000, compactAtShare: 0.6, keepRecentEvents: 20 },
	neverCompactPolicy: { modelWindowTokens: 10_000_000, compactAtShare: 0.95 },
	autoCompactPolicy: { modelWindowTokens: 32_000, compactAtShare: 0.6 },
	transcriptBudgets: [128_000, 8_000],
	coldStartRepetitions: quick ? 2 : 5,
	coldStartLaterAppends: quick ? 10 : 20,
};

const adminKey = `bench-context-${randomUUID()}`;
const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-context-"));
const log = (message: string) => console.log(message);
const ms = (value: number) => value.toFixed(2);

/** A session holding the long-history policy (never compacts at these sizes). */
const bigSession = (size: number) => `ctx-${size / 1000}k`;

// ---------------------------------------------------------------------------------------------
// 1. Context assembly latency against session length.

interface ContextAssembly {
	sizes: number[];
	budget: number;
	rounds: number;
	build: { size: number; seconds: number; eventsPerSecond: number; appendRequestMs: Stats }[];
	/** Per probe: latency stats; for windows, their shape (same for every size, or the comparison is unfair). */
	probes: Record<string, { description: string; latencyMs: Stats; window?: { items: number; used: number; bytes: number } }>;
	ratio100kTo1k: { p50: number; p95: number; target: number; met: boolean };
	ratioAtV100kTo1k: { p50: number; p95: number };
	/** at=V on the 100k session at several depths: how many newer events the history scan passes. */
	atDepth: { at: number; eventsAfterV: number; latencyMs: Stats; items: number; used: number }[];
}

/** Appends `events` in batches of 500; returns the per-request latencies. */
async function appendAll(client: Client, id: string, events: AgentEvent[]): Promise<number[]> {
	const times: number[] = [];
	for (let index = 0; index < events.length; index += SETTINGS.batch) {
		const response = await client.request("POST", sessionPath(id, "/events"), { events: events.slice(index, index + SETTINGS.batch) });
		if (response.status !== 201) throw new Error(`append to ${id} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}`);
		times.push(response.ms);
	}
	return times;
}

/**
 * One session per size, the same way: a pinned system prompt, `size - 1` short events in
 * batches of 500, then five state keys (a realistic digest; the last write is a state write,
 * so `at = version - 1` serves the same events through the history path).
 */
async function buildLongSession(client: Client, size: number): Promise<ContextAssembly["build"][number]> {
	const id = bigSession(size);
	await client.ok("POST", "/v1/sessions", { id, agent: "bench", policy: SETTINGS.neverCompactPolicy });
	const events: AgentEvent[] = [
		{ type: "message", role: "system", content: "You are a research agent. Cite sources; record decisions; keep TODOs.", pinned: true },
		...smallEvents(42, size - 1),
	];
	const started = performance.now();
	const times = await appendAll(client, id, events);
	const seconds = (performance.now() - started) / 1000;
	const state: [string, unknown][] = [
		["pages_analyzed", 31],
		["current_url", "https://arxiv.org/abs/2310.18220"],
		["findings_count", 7],
		["phase", "benchmarking"],
		["next_step", { tool: "run_code", file: "src/analysis/compare.py" }],
	];
	for (const [key, value] of state) await client.ok("PUT", sessionPath(id, `/state/progress/${key}`), { value });
	return { size, seconds, eventsPerSecond: size / seconds, appendRequestMs: stats(times) };
}

async function contextAssembly(client: Client): Promise<ContextAssembly> {
	log(`\n1. Context assembly: sessions of ${SETTINGS.sizes.map((size) => size.toLocaleString("en")).join(", ")} events, budget ${SETTINGS.budget}`);
	const build: ContextAssembly["build"] = [];
	for (const size of SETTINGS.sizes) {
		const built = await buildLongSession(client, size);
		build.push(built);
		log(`  built ${bigSession(size)}: ${size} events in ${built.seconds.toFixed(1)} s (${built.eventsPerSecond.toFixed(0)} events/s, 500-event append p50 ${ms(built.appendRequestMs.p50)} ms)`);
	}
	// The D1 projection drains in the alarm: let it finish so it does not run under the load.
	for (const size of SETTINGS.sizes) await drained(client, bigSession(size), 120_000);
	const versions = new Map<number, number>();
	for (const size of SETTINGS.sizes) versions.set(size, (await client.ok("GET", sessionPath(bigSession(size)))).version);

	const probes: { name: string; description: string; path: string; window: boolean }[] = [
		{ name: "healthz", description: "GET /healthz: the Worker alone, no auth, no object", path: "/healthz", window: false },
		{
			name: "session",
			description: "GET /v1/sessions/:id (1k session): Worker + auth + object round trip, no assembly",
			path: sessionPath(bigSession(1_000)),
			window: false,
		},
		...SETTINGS.sizes.map((size) => ({
			name: `context ${size / 1000}k`,
			description: `GET /v1/sessions/:id/context?budget=${SETTINGS.budget} on ${size} events`,
			path: sessionPath(bigSession(size), `/context?budget=${SETTINGS.budget}`),
			window: true,
		})),
		...SETTINGS.budgetSweep.map((budget) => ({
			name: `context 100k budget=${budget}`,
			description: `GET /v1/sessions/:id/context?budget=${budget} on 100000 events`,
			path: sessionPath(bigSession(100_000), `/context?budget=${budget}`),
			window: true,
		})),
		...SETTINGS.sizes.map((size) => ({
			name: `context at=V ${size / 1000}k`,
			description: `the same with at=version-1 (the history path used to reproduce a past window) on ${size} events`,
			path: sessionPath(bigSession(size), `/context?budget=${SETTINGS.budget}&at=${(versions.get(size) as number) - 1}`),
			window: true,
		})),
	];
	const samples = new Map<string, number[]>(probes.map((probe) => [probe.name, []]));
	const windows = new Map<string, { items: number; used: number; bytes: number }>();
	const random = prng(2024);
	for (let round = -SETTINGS.warmup; round < SETTINGS.rounds; round++) {
		// Shuffled each round, so drift and noise spread evenly over the probes.
		const order = [...probes];
		for (let index = order.length - 1; index > 0; index--) {
			const other = Math.floor(random() * (index + 1));
			[order[index], order[other]] = [order[other], order[index]];
		}
		for (const probe of order) {
			const response = await client.request<{ items: unknown[]; used: number }>("GET", probe.path);
			if (response.status !== 200) throw new Error(`${probe.path} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}`);
			if (round < 0) continue;
			samples.get(probe.name)?.push(response.ms);
			if (probe.window && !windows.has(probe.name)) {
				windows.set(probe.name, { items: response.body.items.length, used: response.body.used, bytes: response.bytes });
			}
		}
	}
	const result: ContextAssembly["probes"] = {};
	for (const probe of probes) {
		result[probe.name] = { description: probe.description, latencyMs: stats(samples.get(probe.name) ?? []), window: windows.get(probe.name) };
	}
	const small = result["context 1k"].latencyMs;
	const large = result["context 100k"].latencyMs;
	const ratio = { p50: large.p50 / small.p50, p95: large.p95 / small.p95, target: SETTINGS.ratioTarget, met: large.p50 / small.p50 < SETTINGS.ratioTarget };
	const ratioAtV = {
		p50: result["context at=V 100k"].latencyMs.p50 / result["context at=V 1k"].latencyMs.p50,
		p95: result["context at=V 100k"].latencyMs.p95 / result["context at=V 1k"].latencyMs.p95,
	};
	const atDepth = await historyDepth(client, versions.get(100_000) as number);
	return { sizes: SETTINGS.sizes, budget: SETTINGS.budget, rounds: SETTINGS.rounds, build, probes: result, ratio100kTo1k: ratio, ratioAtV100kTo1k: ratioAtV, atDepth };
}

/**
 * at=V further back on the 100k session (version 1 is the create, 2..201 the 500-event
 * batches, then the state writes): the same window size, but the history path reads newest
 * first with a version filter, so it may pass every event written after V.
 */
async function historyDepth(client: Client, version: number): Promise<ContextAssembly["atDepth"]> {
	const id = bigSession(100_000);
	const lastBatchVersion = 1 + 100_000 / SETTINGS.batch;
	const depths = [version - 1, 151, 101, 51, 3];
	const rows: ContextAssembly["atDepth"] = [];
	for (const at of depths) {
		const pathname = sessionPath(id, `/context?budget=${SETTINGS.budget}&at=${at}`);
		const times: number[] = [];
		for (let index = -3; index < SETTINGS.depthRequests; index++) {
			const response = await client.request<{ items: unknown[]; used: number }>("GET", pathname);
			if (response.status !== 200) throw new Error(`${pathname} answered ${response.status}`);
			if (index >= 0) times.push(response.ms);
		}
		const window = await client.ok<{ items: unknown[]; used: number }>("GET", pathname);
		const eventsAfterV = Math.max(0, (lastBatchVersion - at) * SETTINGS.batch);
		rows.push({ at, eventsAfterV, latencyMs: stats(times), items: window.items.length, used: window.used });
	}
	return rows;
}

// ---------------------------------------------------------------------------------------------
// 2. Append throughput while compaction runs.

interface AppendRow {
	session: "compacting" | "never compacts";
	concurrency: number;
	requests: number;
	events: number;
	seconds: number;
	requestsPerSecond: number;
	eventsPerSecond: number;
	latencyMs: Stats;
	non2xx: number;
	compactionsDuringRun: number;
	archivedEventsDuringRun: number;
	contextTokensAtEnd: number;
	totalTokensAtEnd: number;
}

/** `concurrency` callers appending one turn (3-5 short events) each, back to back, for `seconds`. */
async function appendLoad(client: Client, id: string, concurrency: number, seconds: number, seed: number, sample: number[]) {
	const deadline = performance.now() + seconds * 1000;
	let requests = 0;
	let events = 0;
	let non2xx = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async (_, caller) => {
			const random = prng(seed * 100 + caller);
			for (let turn = 0; performance.now() < deadline; turn++) {
				const body = { events: smallTurnEvents(random, turn) };
				const response = await client.request("POST", sessionPath(id, "/events"), body);
				requests++;
				if (response.status === 201) {
					sample.push(response.ms);
					events += body.events.length;
				} else non2xx++;
			}
		}),
	);
	return { requests, events, non2xx, seconds: (performance.now() - started) / 1000 };
}

async function appendUnderCompaction(client: Client) {
	log(
		`\n2. Appends while compaction runs: ${SETTINGS.appendSeconds} s per session and concurrency, in ${SETTINGS.appendSlices} alternating slices; ` +
			`compacting policy ${JSON.stringify(SETTINGS.compactingPolicy)}`,
	);
	const rows: AppendRow[] = [];
	for (const concurrency of SETTINGS.appendConcurrency) {
		const sessions = [
			{ kind: "compacting" as const, id: `append-compacting-c${concurrency}`, policy: SETTINGS.compactingPolicy },
			{ kind: "never compacts" as const, id: `append-plain-c${concurrency}`, policy: SETTINGS.neverCompactPolicy },
		];
		const totals = new Map(sessions.map((session) => [session.id, { requests: 0, events: 0, non2xx: 0, seconds: 0, sample: [] as number[] }]));
		for (const session of sessions) await client.ok("POST", "/v1/sessions", { id: session.id, agent: "bench", policy: session.policy });
		for (let slice = 0; slice < SETTINGS.appendSlices; slice++) {
			// Alternate which goes first, so neither always follows the other's leftover alarm work.
			const order = slice % 2 === 0 ? sessions : [...sessions].reverse();
			for (const session of order) {
				const total = totals.get(session.id) as NonNullable<ReturnType<typeof totals.get>>;
				const ran = await appendLoad(client, session.id, concurrency, SETTINGS.appendSeconds / SETTINGS.appendSlices, slice + concurrency * 10, total.sample);
				total.requests += ran.requests;
				total.events += ran.events;
				total.non2xx += ran.non2xx;
				total.seconds += ran.seconds;
				// Pending alarms of this session finish before the other one is loaded.
				await drained(client, session.id);
			}
		}
		for (const session of sessions) {
			const total = totals.get(session.id) as NonNullable<ReturnType<typeof totals.get>>;
			const view = await client.ok("GET", sessionPath(session.id));
			const compactions: { archivedEvents: number }[] = await allCompactions(client, session.id);
			const row: AppendRow = {
				session: session.kind,
				concurrency,
				requests: total.requests,
				events: total.events,
				seconds: total.seconds,
				requestsPerSecond: total.requests / total.seconds,
				eventsPerSecond: total.events / total.seconds,
				latencyMs: stats(total.sample),
				non2xx: total.non2xx,
				compactionsDuringRun: view.compactions,
				archivedEventsDuringRun: compactions.reduce((sum, compaction) => sum + compaction.archivedEvents, 0),
				contextTokensAtEnd: view.tokens.context,
				totalTokensAtEnd: view.tokens.total,
			};
			rows.push(row);
			log(
				`  c=${concurrency} ${session.kind.padEnd(14)} ${row.requestsPerSecond.toFixed(0).padStart(5)} req/s  p50 ${ms(row.latencyMs.p50)} ms  p95 ${ms(row.latencyMs.p95)} ms  ` +
					`compactions ${row.compactionsDuringRun}`,
			);
		}
	}
	// Object time each compaction took from the appends: the compacting session's extra time
	// over what its requests would have taken at the plain session's rate, per compaction.
	const costPerCompaction = SETTINGS.appendConcurrency.map((concurrency) => {
		const compacting = rows.find((row) => row.concurrency === concurrency && row.session === "compacting") as AppendRow;
		const plain = rows.find((row) => row.concurrency === concurrency && row.session === "never compacts") as AppendRow;
		const extraSeconds = compacting.seconds - compacting.requests / plain.requestsPerSecond;
		return {
			concurrency,
			throughputChange: compacting.requestsPerSecond / plain.requestsPerSecond - 1,
			estimatedMsPerCompaction: compacting.compactionsDuringRun > 0 ? (extraSeconds * 1000) / compacting.compactionsDuringRun : null,
		};
	});
	return { policy: SETTINGS.compactingPolicy, rows, costPerCompaction };
}

// ---------------------------------------------------------------------------------------------
// 3. Compaction token reduction on a research agent's transcript.

interface WindowFigures {
	budget: number;
	used: number;
	items: number;
	/** Items and tokens per item kind (pinned_event, state_digest, summary, event). */
	byKind: Record<string, { items: number; tokens: number }>;
}

interface CompactionFigures {
	compacted: boolean;
	beforeTokens: number;
	afterTokens: number;
	ratio: number;
	archivedEvents: number;
	summaryTokens: number | null;
	trigger: string;
	summarizer: string;
}

/** Every compaction record of a session, page by page. */
async function allCompactions(client: Client, id: string): Promise<any[]> {
	const all: any[] = [];
	for (let after: number | null = 0; after !== null; ) {
		const page: { compactions: any[]; nextAfter: number | null } = await client.ok("GET", sessionPath(id, `/compactions?limit=200&after=${after}`));
		all.push(...page.compactions);
		after = page.nextAfter;
	}
	return all;
}

async function windowsOf(client: Client, id: string): Promise<WindowFigures[]> {
	const figures: WindowFigures[] = [];
	for (const budget of SETTINGS.transcriptBudgets) {
		const window = await client.ok<{ used: number; items: { kind: string; tokens: number }[] }>("GET", sessionPath(id, `/context?budget=${budget}`));
		const byKind: WindowFigures["byKind"] = {};
		for (const item of window.items) {
			byKind[item.kind] ??= { items: 0, tokens: 0 };
			byKind[item.kind].items++;
			byKind[item.kind].tokens += item.tokens;
		}
		figures.push({ budget, used: window.used, items: window.items.length, byKind });
	}
	return figures;
}

function compactionFigures(compaction: any): CompactionFigures {
	return {
		compacted: true,
		beforeTokens: compaction.beforeTokens,
		afterTokens: compaction.afterTokens,
		ratio: compaction.ratio,
		archivedEvents: compaction.archivedEvents,
		summaryTokens: null,
		trigger: compaction.trigger,
		summarizer: compaction.summarizer,
	};
}

async function appendTranscript(client: Client, id: string, turns: AgentEvent[][]): Promise<void> {
	// Turn by turn, as the agent would: one request per turn.
	for (const turn of turns) await client.ok("POST", sessionPath(id, "/events"), { events: turn });
}

async function compactionRatio(client: Client) {
	const transcript = researchTranscript();
	log(
		`\n3. Compaction of a research agent's transcript: ${transcript.stats.events} events in ${transcript.stats.turns} turns, ` +
			`${(transcript.stats.jsonBytes / 1024).toFixed(0)} KiB of content, ${transcript.stats.overInlineLimit} events over 16 KiB (R2)`,
	);
	const manual = async (id: string, body: Record<string, unknown>) => {
		await client.ok("POST", "/v1/sessions", { id, agent: "research-bench" });
		await appendTranscript(client, id, transcript.turns);
		await drained(client, id);
		const before = await client.ok("GET", sessionPath(id));
		const windowBefore = await windowsOf(client, id);
		const started = performance.now();
		const result = await client.ok("POST", sessionPath(id, "/compact"), body);
		const compactMs = performance.now() - started;
		const after = await client.ok("GET", sessionPath(id));
		const windowAfter = await windowsOf(client, id);
		const compaction = result.compacted ? compactionFigures(result.compaction) : null;
		// The summary's own tokens, as the window after it shows them.
		if (compaction) compaction.summaryTokens = windowAfter[0].byKind.summary?.tokens ?? null;
		return {
			session: id,
			compactionsBefore: before.compactions,
			tokensBefore: before.tokens,
			tokensAfter: after.tokens,
			compactRequestMs: compactMs,
			compaction,
			summaryChars: result.compaction?.summary?.length ?? null,
			windowBefore,
			windowAfter,
		};
	};
	const deterministic = await manual("research-manual", {});
	const agent = await manual("research-agent-summary", { summary: AGENT_SUMMARY });

	// The same run under a small model window: the alarm compacts by itself as it grows.
	const autoId = "research-auto";
	await client.ok("POST", "/v1/sessions", { id: autoId, agent: "research-bench", policy: SETTINGS.autoCompactPolicy });
	const started = performance.now();
	await appendTranscript(client, autoId, transcript.turns);
	const first = await pollSession(client, autoId, (session) => session.compactions >= 1, 30_000);
	// Then until it settles: the count unchanged for 1.5 s and the projection drained.
	let settled = first.session;
	for (let stableSince = performance.now(); performance.now() - stableSince < 1_500 && performance.now() - started < 60_000; ) {
		await delay(250);
		const now = await client.ok("GET", sessionPath(autoId));
		if (now.compactions !== settled.compactions || now.projection.pending !== 0) stableSince = performance.now();
		settled = now;
	}
	const compactions = await allCompactions(client, autoId);
	const auto = {
		session: autoId,
		policy: SETTINGS.autoCompactPolicy,
		reachedFirstCompaction: first.met,
		compactions: compactions.map(compactionFigures),
		tokensAtEnd: settled.tokens,
		/** Window tokens at the end against the uncompacted session's (same events). */
		overallRatio: settled.tokens.context / deterministic.tokensBefore.context,
		windowAtEnd: await windowsOf(client, autoId),
	};
	return { transcript: transcript.stats, deterministic, agent, auto };
}

// ---------------------------------------------------------------------------------------------
// 4. Tokenizer cold start.

interface ColdStartRun {
	hostStartMs: number;
	firstContextMs: number;
	laterContextMedianMs: number;
	/** First context read on a second session: the object is cold, the code path is warm. */
	secondSessionFirstContextMs: number;
	firstAppendMs: number;
	/** First append on the second session: its object was woken by the read, the tokenizer is loaded. */
	secondSessionFirstAppendMs: number;
	laterAppendMedianMs: number;
}

async function coldStart(bundle: string) {
	const reps = SETTINGS.coldStartRepetitions;
	log(`\n4. Tokenizer cold start: ${reps} fresh Miniflare processes on the same stored sessions`);
	const persistDir = path.join(workDir, "cold-state");
	const seeded = await startHost({ scriptPath: bundle, persistDir, adminKey }, path.join(workDir, "cold-seed.log"));
	const client = new Client(seeded.url, adminKey);
	try {
		for (let rep = 0; rep < reps; rep++) {
			for (const id of [`cold-${rep}`, `cold-${rep}-second`]) {
				await client.ok("POST", "/v1/sessions", { id, policy: SETTINGS.neverCompactPolicy });
				await appendAll(client, id, smallEvents(7 + rep, 1_000));
				await drained(client, id);
			}
		}
	} finally {
		client.close();
		await seeded.stop();
	}
	const runs: ColdStartRun[] = [];
	for (let rep = 0; rep < reps; rep++) {
		const host = await startHost({ scriptPath: bundle, persistDir, adminKey }, path.join(workDir, `cold-${rep}.log`));
		const fresh = new Client(host.url, adminKey);
		try {
			const [id, second] = [`cold-${rep}`, `cold-${rep}-second`];
			const context = `/context?budget=${SETTINGS.budget}`;
			const timed = async (method: string, pathname: string, body?: unknown) => {
				const response = await fresh.request(method, pathname, body);
				if (response.status < 200 || response.status >= 300) throw new Error(`${method} ${pathname} answered ${response.status}`);
				return response.ms;
			};
			const random = prng(99 + rep);
			const append = (session: string, turn: number) => timed("POST", sessionPath(session, "/events"), { events: smallTurnEvents(random, turn) });
			const firstContextMs = await timed("GET", sessionPath(id, context));
			const laterContext: number[] = [];
			for (let index = 0; index < 10; index++) laterContext.push(await timed("GET", sessionPath(id, context)));
			const secondSessionFirstContextMs = await timed("GET", sessionPath(second, context));
			const firstAppendMs = await append(id, 0);
			const secondSessionFirstAppendMs = await append(second, 0);
			const laterAppends: number[] = [];
			for (let turn = 1; turn <= SETTINGS.coldStartLaterAppends; turn++) laterAppends.push(await append(id, turn));
			const run = {
				hostStartMs: host.startMs,
				firstContextMs,
				laterContextMedianMs: median(laterContext),
				secondSessionFirstContextMs,
				firstAppendMs,
				secondSessionFirstAppendMs,
				laterAppendMedianMs: median(laterAppends),
			};
			runs.push(run);
			log(
				`  run ${rep + 1}: first context ${ms(run.firstContextMs)} ms (later ${ms(run.laterContextMedianMs)}), first append ${ms(run.firstAppendMs)} ms, ` +
					`second session's first append ${ms(run.secondSessionFirstAppendMs)} ms, later appends ${ms(run.laterAppendMedianMs)} ms`,
			);
		} finally {
			fresh.close();
			await host.stop();
		}
	}
	const pick = (field: keyof ColdStartRun) => median(runs.map((run) => run[field]));
	return {
		repetitions: reps,
		runs,
		medians: {
			firstContextMs: pick("firstContextMs"),
			laterContextMs: pick("laterContextMedianMs"),
			secondSessionFirstContextMs: pick("secondSessionFirstContextMs"),
			firstAppendMs: pick("firstAppendMs"),
			secondSessionFirstAppendMs: pick("secondSessionFirstAppendMs"),
			laterAppendMs: pick("laterAppendMedianMs"),
		},
		/** First append minus the median later append, per run, then the median over runs. */
		coldStartMs: median(runs.map((run) => run.firstAppendMs - run.laterAppendMedianMs)),
		/** First append minus the second session's first append (same path, tokenizer already loaded). */
		coldStartVsSecondSessionMs: median(runs.map((run) => run.firstAppendMs - run.secondSessionFirstAppendMs)),
	};
}

// ---------------------------------------------------------------------------------------------
// Report.

type Results = {
	assembly: ContextAssembly;
	appends: Awaited<ReturnType<typeof appendUnderCompaction>>;
	compaction: Awaited<ReturnType<typeof compactionRatio>>;
	cold: Awaited<ReturnType<typeof coldStart>>;
};

function printTables(results: Results): void {
	const { assembly, appends, compaction, cold } = results;
	log(`\nContext assembly, budget ${assembly.budget} tokens, ${assembly.rounds} sequential requests per row (interleaved):`);
	log(
		table([
			["request", "p50 ms", "p95 ms", "p99 ms", "mean ms", "items", "used", "KiB"],
			...Object.entries(assembly.probes).map(([name, probe]) => [
				name,
				ms(probe.latencyMs.p50),
				ms(probe.latencyMs.p95),
				ms(probe.latencyMs.p99),
				ms(probe.latencyMs.mean),
				probe.window ? String(probe.window.items) : "-",
				probe.window ? String(probe.window.used) : "-",
				probe.window ? (probe.window.bytes / 1024).toFixed(1) : "-",
			]),
		]),
	);
	const ratio = assembly.ratio100kTo1k;
	log(
		`100k/1k: p50 ${ratio.p50.toFixed(2)}x, p95 ${ratio.p95.toFixed(2)}x (target p50 < ${ratio.target}x: ${ratio.met ? "met" : "MISSED"}); ` +
			`at=V: p50 ${assembly.ratioAtV100kTo1k.p50.toFixed(2)}x, p95 ${assembly.ratioAtV100kTo1k.p95.toFixed(2)}x`,
	);

	log(`\nat=V further back in the 100k session (budget ${assembly.budget}, ${SETTINGS.depthRequests} sequential requests each):`);
	log(
		table([
			["at", "events after V", "p50 ms", "p95 ms", "items", "used"],
			...assembly.atDepth.map((row) => [String(row.at), String(row.eventsAfterV), ms(row.latencyMs.p50), ms(row.latencyMs.p95), String(row.items), String(row.used)]),
		]),
	);

	log("\nAppends (one turn of 3-5 events per request) while the alarm compacts, against a session that never compacts:");
	log(
		table([
			["session", "c", "req/s", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "compactions", "archived", "non-2xx"],
			...appends.rows.map((row) => [
				row.session,
				String(row.concurrency),
				row.requestsPerSecond.toFixed(0),
				row.eventsPerSecond.toFixed(0),
				ms(row.latencyMs.p50),
				ms(row.latencyMs.p95),
				ms(row.latencyMs.p99),
				ms(row.latencyMs.max),
				String(row.compactionsDuringRun),
				String(row.archivedEventsDuringRun),
				String(row.non2xx),
			]),
		], (column) => column > 0),
	);

	for (const cost of appends.costPerCompaction) {
		log(
			`c=${cost.concurrency}: throughput ${(cost.throughputChange * 100).toFixed(0)}% with compaction; ` +
				`about ${cost.estimatedMsPerCompaction?.toFixed(1) ?? "-"} ms of object time per compaction`,
		);
	}

	log(`\nCompaction of the research transcript (${compaction.transcript.events} events):`);
	const windowCell = (figures: WindowFigures[], budget: number) => {
		const window = figures.find((figure) => figure.budget === budget);
		return window ? `${window.used} (${window.items} items)` : "-";
	};
	const [wide, narrow] = SETTINGS.transcriptBudgets;
	const manualRow = (label: string, run: typeof compaction.deterministic) => [
		label,
		String(run.compaction?.beforeTokens ?? "-"),
		String(run.compaction?.afterTokens ?? "-"),
		run.compaction ? run.compaction.ratio.toFixed(3) : "-",
		String(run.compaction?.archivedEvents ?? "-"),
		String(run.compaction?.summaryTokens ?? "-"),
		`${windowCell(run.windowBefore, wide)} -> ${windowCell(run.windowAfter, wide)}`,
		`${windowCell(run.windowBefore, narrow)} -> ${windowCell(run.windowAfter, narrow)}`,
	];
	log(
		table(
			[
				["compaction", "before", "after", "ratio", "archived", "summary", `window used @${wide}`, `window used @${narrow}`],
				manualRow("manual, deterministic", compaction.deterministic),
				manualRow("manual, agent summary", compaction.agent),
				...compaction.auto.compactions.map((run, index) => [
					`alarm #${index + 1} (${run.trigger})`,
					String(run.beforeTokens),
					String(run.afterTokens),
					run.ratio.toFixed(3),
					String(run.archivedEvents),
					index === compaction.auto.compactions.length - 1 ? String(compaction.auto.windowAtEnd[0].byKind.summary?.tokens ?? "-") : "",
					index === compaction.auto.compactions.length - 1 ? `end: ${windowCell(compaction.auto.windowAtEnd, wide)}` : "",
					index === compaction.auto.compactions.length - 1 ? `end: ${windowCell(compaction.auto.windowAtEnd, narrow)}` : "",
				]),
			],
			(column) => column > 0 && column < 6,
		),
	);
	log(
		`alarm-compacted session (${JSON.stringify(compaction.auto.policy)}): ${compaction.auto.compactions.length} compactions, ` +
			`context ${compaction.auto.tokensAtEnd.context} of ${compaction.deterministic.tokensBefore.context} window tokens ` +
			`(${compaction.auto.overallRatio.toFixed(3)}); the full content is ${compaction.deterministic.tokensBefore.total} tokens (R2 events count as their previews in a window)`,
	);

	log(`\nTokenizer cold start (median of ${cold.repetitions} fresh processes):`);
	log(
		table([
			["request", "ms"],
			["first GET /context (fresh process)", ms(cold.medians.firstContextMs)],
			["later GET /context", ms(cold.medians.laterContextMs)],
			["first GET /context, 2nd session", ms(cold.medians.secondSessionFirstContextMs)],
			["first append (loads the tokenizer)", ms(cold.medians.firstAppendMs)],
			["first append, 2nd session", ms(cold.medians.secondSessionFirstAppendMs)],
			["later appends", ms(cold.medians.laterAppendMs)],
			["cold start (first - later)", ms(cold.coldStartMs)],
			["cold start (first - 2nd session's first)", ms(cold.coldStartVsSecondSessionMs)],
		]),
	);
}

const loadAtStart = loadAverage1m();

async function main(): Promise<void> {
	const startedAt = new Date();
	log(
		`edge-context context bench${quick ? " --quick" : ""}: ${os.cpus().length} CPUs, Node ${process.version}, ` +
			`load average ${loadAtStart}, work dir ${workDir}`,
	);
	const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), {
		logPath: path.join(workDir, "bundle.log"),
		registryDir: path.join(workDir, "registry"),
	});
	let host: Host | null = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
	log(`Miniflare ready in ${(host.startMs / 1000).toFixed(1)} s at ${host.url}`);
	const client = new Client(host.url, adminKey);
	let results: Results;
	try {
		const assembly = await contextAssembly(client);
		// Compaction before the append load: its alarm-driven run then starts on a quiet object.
		const compaction = await compactionRatio(client);
		const appends = await appendUnderCompaction(client);
		client.close();
		await host.stop();
		host = null;
		const cold = await coldStart(bundle);
		results = { assembly, appends, compaction, cold };
	} finally {
		client.close();
		await host?.stop();
	}
	printTables(results);

	const durationSeconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
	const output = {
		generatedAt: startedAt.toISOString(),
		quick,
		durationSeconds,
		machine: machine(loadAtStart),
		tools: { wrangler: packageVersion("wrangler"), miniflare: packageVersion("miniflare"), gptTokenizer: packageVersion("gpt-tokenizer") },
		code: codeVersion(),
		server: "the `wrangler deploy --dry-run` bundle served by Miniflare's API (bench/miniflare-host.ts) on 127.0.0.1, in its own process",
		client: "node:http keep-alive, one request in flight per caller; latency = request sent to full body read",
		settings: SETTINGS,
		...results,
	};
	const jsonFile = path.join(projectRoot, "bench/results/context-latest.json");
	writeAtomically(jsonFile, `${JSON.stringify(output, null, "\t")}\n`);
	const svgFile = path.join(projectRoot, "bench/results/context-latency.svg");
	const probes = results.assembly.probes;
	writeAtomically(
		svgFile,
		latencySvg({
			title: "Context assembly latency vs session length",
			subtitle: `GET /context?budget=${SETTINGS.budget}, ${SETTINGS.rounds} requests per size, Miniflare, ${os.cpus().length} CPUs${quick ? " (--quick)" : ""}, ${startedAt.toISOString().slice(0, 10)}`,
			budget: SETTINGS.budget,
			points: SETTINGS.sizes.map((size) => ({
				events: size,
				p50: probes[`context ${size / 1000}k`].latencyMs.p50,
				p95: probes[`context ${size / 1000}k`].latencyMs.p95,
			})),
			baselines: [{ label: "GET session", p50: probes.session.latencyMs.p50, p95: probes.session.latencyMs.p95 }],
			note: ["GET session: GET /v1/sessions/:id,", "the same Worker, auth and object", "round trip, no assembly"],
		}),
	);
	log(`\nwrote ${path.relative(projectRoot, jsonFile)} and ${path.relative(projectRoot, svgFile)} in ${durationSeconds} s`);
}

await runMain(main, workDir);
