/**
 * Deterministic agent traffic for bench/context.ts (seeded PRNG, no clock, no I/O): the same
 * seed always gives the same events, so runs are comparable.
 *
 * - `smallTurnEvents`: the short, realistic events that fill the long sessions of the context
 *   assembly measurement (about 50-100 tokens each);
 * - `researchTranscript`: a research agent's whole run, for the compaction measurements: a goal,
 *   turns of tool_call + tool_result with large outputs (some over the 16 KiB inline limit, so
 *   kept in R2), assistant messages, decisions, errors followed by a retry note, TODO notes.
 */

export type AgentEvent = {
	type: "message" | "tool_call" | "tool_result" | "error" | "decision" | "note";
	role?: "system" | "user" | "assistant" | "tool";
	name?: string;
	toolCallId?: string;
	content: unknown;
	metadata?: Record<string, unknown>;
	pinned?: boolean;
};

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

type Random = () => number;

const int = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)];

const WORDS = (
	"the a of to and in for on with by from that this which as is are was be can not it its their each per into over under " +
	"replica merge conflict operation state vector clock causal order delta sync document editor text sequence insert delete " +
	"tombstone garbage collection memory overhead throughput latency benchmark dataset trace offline peer server client network " +
	"library implementation encoding binary snapshot history undo redo cursor presence awareness schema rich formatting list map " +
	"counter register convergence consistency eventual strong commutative idempotent associative lattice join semilattice " +
	"Yjs Automerge Loro Diamond-types RGA YATA Fugue Peritext OT Jupiter Google Docs collaborative real-time WebSocket " +
	"compression columnar storage load time parse time paper survey section figure table result experiment baseline " +
	"faster slower smaller larger improves reduces compared measured reported median p95 seconds milliseconds megabytes"
).split(" ");

const DOMAINS = ["arxiv.org", "crdt.tech", "github.com", "docs.yjs.dev", "automerge.org", "josephg.com", "martin.kleppmann.com", "inkandswitch.com", "loro.dev", "dl.acm.org"];
const FILES = [
	"data/bench_results.csv",
	"data/traces/automerge-paper.json.gz",
	"src/analysis/compare.py",
	"src/analysis/plot_memory.py",
	"notes/findings.md",
	"report/draft.md",
	"scripts/run_bench.sh",
	"data/traces/seph-blog1.json",
];

function words(random: Random, count: number): string {
	const out: string[] = [];
	for (let index = 0; index < count; index++) out.push(pick(random, WORDS));
	return out.join(" ");
}

/** Prose of about `chars` characters, in sentences. */
function prose(random: Random, chars: number): string {
	let text = "";
	while (text.length < chars) {
		const sentence = words(random, int(random, 8, 22));
		text += `${sentence[0].toUpperCase()}${sentence.slice(1)}. `;
	}
	return text.slice(0, chars).trimEnd();
}

function url(random: Random): string {
	const domain = pick(random, DOMAINS);
	const slug = words(random, int(random, 2, 4)).replace(/\s+/g, "-").toLowerCase();
	return `https://${domain}/${domain === "arxiv.org" ? `abs/${int(random, 1800, 2512)}.${int(random, 10000, 19999)}` : slug}`;
}

// ---------------------------------------------------------------------------------------------
// Small events for the long sessions.

/**
 * One turn of a chatty agent, 3-5 short events: an assistant line, a tool call and a short
 * result, now and then a user message or a note. Index `turn` only varies the ids.
 */
export function smallTurnEvents(random: Random, turn: number): AgentEvent[] {
	const events: AgentEvent[] = [];
	if (random() < 0.15) events.push({ type: "message", role: "user", content: prose(random, int(random, 60, 200)) });
	events.push({ type: "message", role: "assistant", content: prose(random, int(random, 120, 320)) });
	const tool = pick(random, ["search", "read_page", "run_code"] as const);
	const id = `call_${turn.toString(36)}`;
	const args =
		tool === "search"
			? { query: words(random, int(random, 3, 7)), top_k: 5 }
			: tool === "read_page"
				? { url: url(random) }
				: { language: "python", file: pick(random, FILES), code: `print(${words(random, 3).replace(/ /g, "_")})` };
	events.push({ type: "tool_call", name: tool, toolCallId: id, content: args });
	events.push({
		type: "tool_result",
		role: "tool",
		name: tool,
		toolCallId: id,
		content: tool === "read_page" ? prose(random, int(random, 200, 700)) : { ok: true, summary: prose(random, int(random, 150, 500)) },
	});
	if (random() < 0.1) events.push({ type: "note", content: prose(random, int(random, 60, 160)) });
	return events;
}

/** Exactly `count` small events, generated turn by turn from `seed`. */
export function smallEvents(seed: number, count: number): AgentEvent[] {
	const random = prng(seed);
	const events: AgentEvent[] = [];
	for (let turn = 0; events.length < count; turn++) events.push(...smallTurnEvents(random, turn));
	return events.slice(0, count);
}

// ---------------------------------------------------------------------------------------------
// The research agent transcript.

export interface Transcript {
	/** Events grouped as the agent would append them: the opening, then one group per turn. */
	turns: AgentEvent[][];
	stats: { turns: number; events: number; jsonBytes: number; overInlineLimit: number; byType: Record<string, number> };
}

const GOAL =
	"Research the state of the art in CRDT libraries for collaborative text editing (Yjs, Automerge, Loro, Diamond-types). " +
	"Compare memory overhead, load time and merge throughput on the public editing traces, read the key papers, and write " +
	"a report with a recommendation for our editor (report/draft.md), including the benchmark numbers and their caveats.";

const SYSTEM =
	"You are a careful research agent. Use the tools search, read_page and run_code. Cite every claim with a URL. " +
	"Record decisions explicitly, note open items as TODO, and never rerun an expensive tool call whose result you already have.";

function searchResult(random: Random): unknown {
	return {
		results: Array.from({ length: int(random, 4, 8) }, () => ({
			title: prose(random, int(random, 30, 80)),
			url: url(random),
			snippet: prose(random, int(random, 180, 380)),
		})),
	};
}

function pageText(random: Random, chars: number, pageUrl: string): string {
	return `# ${prose(random, 60)}\nSource: ${pageUrl}\n\n${prose(random, chars)}`;
}

function codeResult(random: Random, file: string): unknown {
	const rows = Array.from(
		{ length: int(random, 20, 90) },
		(_, index) =>
			`${pick(random, ["yjs", "automerge", "loro", "diamond-types"])},trace_${index % 7},${int(random, 5, 900)}.${int(random, 0, 99)}ms,${int(random, 1, 400)}.${int(random, 0, 9)}MB`,
	);
	return { exit_code: 0, file, stdout: `library,trace,time,memory\n${rows.join("\n")}`, stderr: "" };
}

/**
 * A research agent's run, deterministic for a seed: 80 turns of thinking, tool use and large
 * results (about one page in five over 16 KiB, so kept in R2), with decisions every dozen turns, four
 * rate-limit errors each followed by a retry note and the retried call, and TODO notes.
 */
export function researchTranscript(seed = 7, turnCount = 80): Transcript {
	const random = prng(seed);
	const turns: AgentEvent[][] = [
		[
			{ type: "message", role: "system", content: SYSTEM, pinned: true },
			{ type: "message", role: "user", content: GOAL },
		],
	];
	let call = 0;
	const toolTurn = (turn: number): AgentEvent[] => {
		const events: AgentEvent[] = [];
		const rateLimited = turn % 20 === 11;
		const tool = rateLimited ? "read_page" : pick(random, ["search", "search", "read_page", "read_page", "read_page", "run_code"] as const);
		const id = `call_${(++call).toString().padStart(3, "0")}`;
		let args: Record<string, unknown>;
		let result: unknown;
		if (tool === "search") {
			args = { query: words(random, int(random, 4, 8)), top_k: 10 };
			result = searchResult(random);
		} else if (tool === "read_page") {
			const pageUrl = url(random);
			args = { url: pageUrl, max_chars: 40_000 };
			// Most pages 1-6 KB; about one in five is a long paper over the 16 KiB inline limit.
			const chars = random() < 0.2 ? int(random, 18_000, 42_000) : int(random, 1_000, 6_000);
			result = pageText(random, chars, pageUrl);
		} else {
			const file = pick(random, FILES);
			args = { language: "python", files: [file, "src/analysis/compare.py"], code: `import pandas as pd\ndf = pd.read_csv("${file}")\nprint(df.groupby("library").median())` };
			result = codeResult(random, file);
		}
		events.push({ type: "message", role: "assistant", content: prose(random, int(random, 150, 600)) });
		events.push({ type: "tool_call", name: tool, toolCallId: id, content: args });
		if (rateLimited) {
			// A rate limit: the error, the agent's retry note, then the retried call succeeds.
			events.push({
				type: "error",
				name: tool,
				toolCallId: id,
				content: { tool, status: 429, message: `Too Many Requests for ${(args as { url: string }).url}`, retryAfterSeconds: 30 },
			});
			events.push({ type: "note", content: `Retrying ${tool} after a 30 s backoff (attempt 2); lower the request rate for ${pick(random, DOMAINS)}.` });
			const retryId = `call_${(++call).toString().padStart(3, "0")}`;
			events.push({ type: "tool_call", name: tool, toolCallId: retryId, content: args, metadata: { retryOf: id } });
			events.push({ type: "tool_result", role: "tool", name: tool, toolCallId: retryId, content: result });
		} else {
			events.push({ type: "tool_result", role: "tool", name: tool, toolCallId: id, content: result });
		}
		if (turn % 12 === 6) {
			events.push({
				type: "decision",
				content: `Decision: ${prose(random, int(random, 80, 200))} (based on ${url(random)})`,
			});
		}
		if (turn % 9 === 4) {
			events.push({ type: "note", content: `TODO: ${prose(random, int(random, 40, 120))} (see ${pick(random, FILES)})` });
		}
		return events;
	};
	for (let turn = 1; turn <= turnCount; turn++) turns.push(toolTurn(turn));
	turns.push([
		{ type: "message", role: "assistant", content: `Draft written to report/draft.md. ${prose(random, 400)}` },
		{ type: "note", content: "TODO: rerun the memory benchmark on the full automerge-paper trace before the final report." },
	]);

	const all = turns.flat();
	const byType: Record<string, number> = {};
	for (const event of all) byType[event.type] = (byType[event.type] ?? 0) + 1;
	return {
		turns,
		stats: {
			turns: turnCount,
			events: all.length,
			jsonBytes: all.reduce((sum, event) => sum + JSON.stringify(event.content).length, 0),
			overInlineLimit: all.filter((event) => Buffer.byteLength(JSON.stringify(event.content)) > 16_384).length,
			byType,
		},
	};
}

/** An agent-written summary of the same run, for POST /compact {summary}. */
export const AGENT_SUMMARY = [
	"Goal: compare CRDT libraries (Yjs, Automerge, Loro, Diamond-types) for our editor and write report/draft.md.",
	"Discovered: Yjs and Diamond-types load the editing traces fastest; Automerge 2.x closed most of the memory gap; Loro's",
	"columnar encoding gives the smallest snapshots. Key files: data/bench_results.csv, src/analysis/compare.py, notes/findings.md.",
	"Decisions: Yjs is the baseline; benchmarks use the automerge-paper and seph-blog1 traces; median of 5 runs.",
	"Errors: read_page hit HTTP 429 on a few sites; retried after 30 s backoff, lower request rate.",
	"Open: rerun the memory benchmark on the full automerge-paper trace; verify Loro numbers on 10k ops.",
].join(" ");
