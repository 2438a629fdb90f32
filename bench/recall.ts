/**
 * `npm run bench:recall`: retrieval quality of session search on LoCoMo (10 long conversations,
 * 1,986 questions, each naming the turns that hold its answer). Each conversation becomes a
 * session, each turn an event (the speaker as its name, the turn id in its metadata), and every
 * question outside category 5 (adversarial, no answer) is asked through
 * GET /v1/sessions/:id/search on a local Miniflare host. Reports recall@5/10/20 per category
 * and overall, the search latency, and a plain BM25 over the same turns (bm25-baseline.ts)
 * measured in the same run. Writes bench/results/recall-latest.json.
 *
 * The data set is licensed for non-commercial use: it is read from ../shared/benchmarks/locomo
 * at run time and never copied into this repository.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { plainBm25 } from "./bm25-baseline";
import { Client, sessionPath, startHost, stats, table } from "./context-server";
import { codeVersion, loadAverage1m, machine, runMain, writeAtomically } from "./harness";
import { buildBundle, projectRoot } from "./processes";

/** LoCoMo's locomo10.json: never shipped with the repository (non-commercial licence); LOCOMO_FILE names it, else the team's shared copy beside the repository. */
const DATA_FILE = process.env.LOCOMO_FILE ?? path.resolve(projectRoot, "../shared/benchmarks/locomo/locomo10.json");
const DEPTHS = [5, 10, 20] as const;
const APPEND_BATCH = 200;

interface Turn {
	speaker: string;
	dia_id: string;
	text: string;
	blip_caption?: string;
}

interface Question {
	question: string;
	evidence: string[];
	category: number;
}

interface Conversation {
	sample_id: string;
	conversation: Record<string, unknown>;
	qa: Question[];
}

/** A conversation's turns in order, each with the date of its part of the conversation. */
function turnsOf(conversation: Conversation): Array<Turn & { date: string }> {
	const parts = Object.keys(conversation.conversation)
		.map((key) => /^session_(\d+)$/.exec(key))
		.filter((match) => match !== null)
		.map((match) => Number(match[1]))
		.sort((a, b) => a - b);
	return parts.flatMap((part) => {
		const date = String(conversation.conversation[`session_${part}_date_time`] ?? "");
		return (conversation.conversation[`session_${part}`] as Turn[]).map((turn) => ({ ...turn, date }));
	});
}

/** What a turn says, with the photo it shares described, as the conversation shows it. */
function turnText(turn: Turn): string {
	return turn.blip_caption ? `${turn.text} [shares a photo: ${turn.blip_caption}]` : turn.text;
}

/** Evidence ids as written, a few of them joined by `;` in the data. */
function evidenceOf(question: Question): string[] {
	return question.evidence.flatMap((entry) => entry.split(/[;,\s]+/)).filter((id) => /^D\d+:\d+$/.test(id));
}

type Recall = Record<(typeof DEPTHS)[number], number>;

function recallOf(ranked: string[], evidence: string[]): Recall {
	const at = (k: number) => evidence.filter((id) => ranked.slice(0, k).includes(id)).length / evidence.length;
	return { 5: at(5), 10: at(10), 20: at(20) };
}

function average(recalls: Recall[]): Recall {
	const mean = (k: (typeof DEPTHS)[number]) => recalls.reduce((sum, recall) => sum + recall[k], 0) / (recalls.length || 1);
	return { 5: mean(5), 10: mean(10), 20: mean(20) };
}

async function main(): Promise<void> {
	const loadAtStart = loadAverage1m();
	const adminKey = `bench-recall-${randomUUID()}`;
	const workDir = mkdtempSync(path.join(os.tmpdir(), "edge-context-bench-recall-"));
	await runMain(async () => {
		console.log(`edge-context recall bench (LoCoMo): ${os.cpus().length} CPUs, Node ${process.version}, load average ${loadAtStart}`);
		const conversations = JSON.parse(readFileSync(DATA_FILE, "utf8")) as Conversation[];
		const bundle = await buildBundle("wrangler.toml", path.join(workDir, "bundle"), { logPath: path.join(workDir, "bundle.log"), registryDir: path.join(workDir, "registry") });
		const host = await startHost({ scriptPath: bundle, persistDir: path.join(workDir, "state"), adminKey }, path.join(workDir, "host.log"));
		const client = new Client(host.url, adminKey);
		const ours: Array<{ category: number; recall: Recall }> = [];
		const baseline: Array<{ category: number; recall: Recall }> = [];
		const latencies: number[] = [];
		let turnCount = 0;
		try {
			for (const conversation of conversations) {
				const id = `locomo-${conversation.sample_id}`;
				const turns = turnsOf(conversation);
				turnCount += turns.length;
				// Compaction would only move content to R2 (its text stays indexed): kept away, so the run measures search alone.
				await client.ok("POST", "/v1/sessions", { id, policy: { keepRecentEvents: 10_000, modelWindowTokens: 10_000_000 } });
				const turnBySeq = new Map<number, string>();
				for (let start = 0; start < turns.length; start += APPEND_BATCH) {
					const batch = turns.slice(start, start + APPEND_BATCH);
					const events = batch.map((turn) => ({ type: "message", role: "user", name: turn.speaker, content: turnText(turn), metadata: { turn: turn.dia_id, date: turn.date } }));
					const appended = await client.ok<{ firstSeq: number }>("POST", sessionPath(id, "/events"), { events });
					batch.forEach((turn, index) => turnBySeq.set(appended.firstSeq + index, turn.dia_id));
				}
				const index = plainBm25(turns.map((turn) => ({ id: turn.dia_id, text: turnText(turn) })));
				for (const question of conversation.qa) {
					const evidence = evidenceOf(question);
					if (question.category === 5 || evidence.length === 0) continue;
					const response = await client.request<{ hits: Array<{ seq?: number }> }>("GET", sessionPath(id, `/search?limit=20&q=${encodeURIComponent(question.question)}`));
					if (response.status !== 200) throw new Error(`search answered ${response.status}: ${JSON.stringify(response.body)}`);
					latencies.push(response.ms);
					const ranked = response.body.hits.map((hit) => turnBySeq.get(hit.seq ?? -1) ?? "");
					ours.push({ category: question.category, recall: recallOf(ranked, evidence) });
					baseline.push({ category: question.category, recall: recallOf(index.search(question.question, 20), evidence) });
				}
			}
		} finally {
			client.close();
			await host.stop();
		}
		const categories = [...new Set(ours.map((entry) => entry.category))].sort();
		const byCategory = (entries: typeof ours) =>
			Object.fromEntries([...categories.map((category) => [String(category), average(entries.filter((entry) => entry.category === category).map((entry) => entry.recall))]), ["all", average(entries.map((entry) => entry.recall))]]) as Record<string, Recall>;
		const figures = { search: byCategory(ours), plainBm25: byCategory(baseline) };
		const counts = Object.fromEntries([...categories.map((category) => [String(category), ours.filter((entry) => entry.category === category).length]), ["all", ours.length]]);
		const latency = stats(latencies);
		const row = (name: string, recall: Recall) => [name, ...DEPTHS.map((k) => recall[k].toFixed(3))];
		console.log(`\n${conversations.length} conversations, ${turnCount} turns, ${ours.length} questions (category 5 left out):`);
		console.log(
			table([
				["category (questions)", "recall@5", "recall@10", "recall@20", "plain BM25 @5", "@10", "@20"],
				...[...categories.map(String), "all"].map((category) => [...row(`${category} (${counts[category]})`, figures.search[category]), ...row("", figures.plainBm25[category]).slice(1)]),
			]),
		);
		const ratio = figures.search.all[10] / figures.plainBm25.all[10];
		console.log(`\nrecall@10: ${figures.search.all[10].toFixed(3)} against plain BM25 ${figures.plainBm25.all[10].toFixed(3)} (${ratio.toFixed(2)}x)`);
		console.log(`search latency over HTTP (limit 20, sessions of ~${Math.round(turnCount / conversations.length)} events): p50 ${latency.p50.toFixed(2)} ms, p95 ${latency.p95.toFixed(2)} ms`);
		writeAtomically(
			path.join(projectRoot, "bench/results/recall-latest.json"),
			`${JSON.stringify({ generatedAt: new Date().toISOString(), machine: machine(loadAtStart), code: codeVersion(), questions: counts, turns: turnCount, recall: figures, latencyMs: latency }, null, "\t")}\n`,
		);
	}, workDir);
}

if (existsSync(DATA_FILE)) await main();
else console.log(`bench:recall: the LoCoMo data is not at ${DATA_FILE}; nothing measured.`);
