/**
 * The rows each operation is billed for, ours against agents/sessions, for bench/peer.ts.
 * Served by Miniflare from counting builds (bench/peers/counting-ours.ts, and the peer with
 * COUNT_ROWS): each Durable Object sums its SQL cursors' `rowsRead` / `rowsWritten`, and ours
 * also counts the D1 statements it runs. Operations run one at a time, `REPEAT` times each, and
 * the counts are taken right after (what the requests cost) and again after the outbox drain
 * (what they cost later, in the alarm: reads too leave an audit row), then divided by `REPEAT`.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { call, type Target } from "./load";
import { messages } from "./scenarios";
import { startMiniflare } from "./processes";
import type { D1Counts, QueryRows, RowCounts, TakenRows } from "./peers/row-counts";

const REPEAT = 10;
/** Our drain runs one second after the first pending write; this leaves it time to finish. */
const DRAIN_WAIT_MS = 2_500;
const SEEDED = 200;
const SUMMARY = "The agent read pages 1 to 31 of the CRDT survey and noted how state-based and operation-based designs merge.";

export interface OperationRows {
	operation: string;
	/** Per operation, while the request runs; `drain` is what the alarm's projection to D1 cost after it. */
	ours: { request: RowCounts; queries: QueryRows[]; drain: { sql: RowCounts; queries: QueryRows[]; d1: D1Counts; d1Queries: QueryRows[] }; drainComplete: boolean } | null;
	peer: { request: RowCounts; queries: QueryRows[] } | null;
}

interface Operation {
	name: string;
	times: number;
	ours?: (session: string) => Promise<unknown>;
	peer?: (session: string) => Promise<unknown>;
	/** Run on ours before the counted repeats (and their settle): what the operation needs to know. */
	before?: (session: string) => Promise<void>;
}

export async function countRows(options: { workDir: string; adminKey: string; oursBundle: string; peerBundle: string }): Promise<OperationRows[]> {
	const dir = path.join(options.workDir, "row-counts");
	mkdirSync(dir);
	const [oursServer, peerServer] = await Promise.all([
		startMiniflare("ours, counting (miniflare)", { target: "ours", scriptPath: options.oursBundle, persistDir: path.join(dir, "ours"), adminKey: options.adminKey }, path.join(dir, "ours.log")),
		startMiniflare("peer, counting (miniflare)", { target: "peer", scriptPath: options.peerBundle, persistDir: path.join(dir, "peer"), adminKey: options.adminKey, countRows: true }, path.join(dir, "peer.log")),
	]);
	try {
		// The admin key acts for the tenant "default": the counting route addresses that object.
		const ours: Target = { role: "ours", url: oursServer.url, headers: { authorization: `Bearer ${options.adminKey}` } };
		const peer: Target = { role: "peer", url: peerServer.url, headers: {} };
		return await countAll(ours, peer);
	} finally {
		await Promise.all([oursServer.stop(), peerServer.stop()]);
	}
}

const events = (session: string) => `/v1/sessions/${session}/events`;

async function countAll(ours: Target, peer: Target): Promise<OperationRows[]> {
	const session = "rows";
	await call(ours, "POST", "/v1/sessions", { id: session });
	for (const target of [ours, peer]) await call(target, "POST", events(session), messages(SEEDED));
	let version = 0;
	const operations: Operation[] = [
		{
			name: "read tail (20 of 200)",
			times: REPEAT,
			ours: (id) => call(ours, "GET", `${events(id)}?after=${SEEDED - 20}&limit=20`),
			peer: (id) => call(peer, "GET", `${events(id)}?limit=20`),
		},
		{ name: "context window (budget 8000)", times: REPEAT, ours: (id) => call(ours, "GET", `/v1/sessions/${id}/context?budget=8000`) },
		{ name: "state put", times: REPEAT, ours: (id) => call(ours, "PUT", `/v1/sessions/${id}/state/progress/pages_analyzed`, { value: { pagesAnalyzed: 31 } }) },
		{ name: "state get", times: REPEAT, ours: (id) => call(ours, "GET", `/v1/sessions/${id}/state/progress/pages_analyzed`) },
		{ name: "append (text message)", times: REPEAT, ours: (id) => call(ours, "POST", events(id), messages(1)), peer: (id) => call(peer, "POST", events(id), messages(1)) },
		{
			name: "append + Idempotency-Key + expectedVersion",
			times: REPEAT,
			before: async (id) => {
				version = ((await call(ours, "GET", `/v1/sessions/${id}`)) as { version: number }).version;
			},
			ours: async (id) => {
				const response = await fetch(new URL(events(id), ours.url), {
					method: "POST",
					headers: { ...ours.headers, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
					body: JSON.stringify({ ...messages(1), expectedVersion: version++ }),
				});
				if (!response.ok) throw new Error(`guarded append answered ${response.status}: ${await response.text()}`);
			},
		},
		{ name: "first search (builds the peer's index)", times: 1, ours: (id) => call(ours, "GET", `/v1/sessions/${id}/search?q=CRDTs&limit=20`), peer: (id) => call(peer, "GET", `/v1/sessions/${id}/search?q=CRDTs&limit=20`) },
		{ name: "search", times: REPEAT, ours: (id) => call(ours, "GET", `/v1/sessions/${id}/search?q=CRDTs&limit=20`), peer: (id) => call(peer, "GET", `/v1/sessions/${id}/search?q=CRDTs&limit=20`) },
		{ name: "append after a search", times: REPEAT, ours: (id) => call(ours, "POST", events(id), messages(1)), peer: (id) => call(peer, "POST", events(id), messages(1)) },
		{ name: "compaction (agent summary)", times: 1, ours: (id) => call(ours, "POST", `/v1/sessions/${id}/compact`, { summary: SUMMARY }), peer: (id) => call(peer, "POST", `/v1/sessions/${id}/compact`, { summary: SUMMARY }) },
	];
	const rows: OperationRows[] = [];
	for (const operation of operations) {
		const row: OperationRows = { operation: operation.name, ours: null, peer: null };
		if (operation.ours) row.ours = await countOurs(ours, session, operation);
		if (operation.peer) row.peer = await countPeer(peer, session, operation);
		rows.push(row);
		console.log(`  ${operation.name}: ours ${JSON.stringify(row.ours?.request ?? null)}, peer ${JSON.stringify(row.peer?.request ?? null)}`);
	}
	return rows;
}

const perOperation = <T extends RowCounts>(counts: T, times: number): T =>
	Object.fromEntries(Object.entries(counts).map(([key, value]) => [key, Number((value / times).toFixed(2))])) as unknown as T;

async function takeOurs(ours: Target, session: string) {
	return (await call(ours, "GET", `/bench/rows/default/${session}`)) as Required<TakenRows>;
}

const queriesPerOperation = (queries: QueryRows[], times: number): QueryRows[] => queries.map((query) => ({ ...perOperation(query, times), query: query.query }));

async function countOurs(ours: Target, session: string, operation: Operation): Promise<NonNullable<OperationRows["ours"]>> {
	await operation.before?.(session);
	await settle(ours, session);
	await takeOurs(ours, session);
	for (let i = 0; i < operation.times; i++) await operation.ours?.(session);
	const taken = await takeOurs(ours, session);
	const request = perOperation(taken.sql, operation.times);
	const queries = queriesPerOperation(taken.queries, operation.times);
	// Records of reads would wait 30 s for the drain: it runs now, and is counted.
	await drainNow(ours, session);
	const drained = await takeOurs(ours, session);
	const { projection } = (await call(ours, "GET", `/v1/sessions/${session}`)) as { projection: { pending: number } };
	const drain = {
		sql: perOperation(drained.sql, operation.times),
		queries: queriesPerOperation(drained.queries, operation.times),
		d1: perOperation(drained.d1.totals, operation.times),
		d1Queries: queriesPerOperation(drained.d1.queries, operation.times),
	};
	return { request, queries, drain, drainComplete: projection.pending === 0 };
}

/**
 * Waits until nothing is left to project, then one drain period more: every request, reads
 * and these polls included, leaves an audit row for the drain, which must not land in the
 * next operation's count.
 */
async function settle(ours: Target, session: string): Promise<void> {
	for (;;) {
		const { projection } = (await call(ours, "GET", `/v1/sessions/${session}`)) as { projection: { pending: number } };
		if (projection.pending === 0) break;
		await delay(100);
	}
	await delay(DRAIN_WAIT_MS);
	await drainNow(ours, session);
}

async function drainNow(ours: Target, session: string): Promise<void> {
	await call(ours, "POST", `/bench/drain/default/${session}`);
}

async function countPeer(peer: Target, session: string, operation: Operation): Promise<NonNullable<OperationRows["peer"]>> {
	// The object may have been evicted while ours was counted: its start-up is not the operation's.
	await call(peer, "GET", `${events(session)}?limit=1`);
	await call(peer, "GET", `/bench/rows/${session}`);
	for (let i = 0; i < operation.times; i++) await operation.peer?.(session);
	const taken = (await call(peer, "GET", `/bench/rows/${session}`)) as TakenRows;
	return { request: perOperation(taken.sql, operation.times), queries: queriesPerOperation(taken.queries, operation.times) };
}

export function formatRowTable(rows: OperationRows[]): string {
	const counts = (c: RowCounts | null | undefined) => (c ? `${c.statements} / ${c.rowsRead} / ${c.rowsWritten}` : "-");
	const header = ["operation", "ours request: stmts / read / written", "ours drain: stmts / read / written", "ours drain to D1: stmts (calls) / written", "peer: stmts / read / written"];
	const lines = rows.map((row) => [
		row.operation,
		counts(row.ours?.request),
		row.ours ? `${counts(row.ours.drain.sql)}${row.ours.drainComplete ? "" : " (drain incomplete)"}` : "-",
		row.ours ? `${row.ours.drain.d1.statements} (${row.ours.drain.d1.calls}) / ${row.ours.drain.d1.rowsWritten}` : "-",
		counts(row.peer?.request),
	]);
	const widths = header.map((title, index) => Math.max(title.length, ...lines.map((line) => line[index].length)));
	const format = (line: string[]) => line.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]) : cell.padStart(widths[index]))).join("  ").trimEnd();
	const title = "Billed rows per operation (mean of the repeats): SQLite in the request, SQLite and D1 in the drain after it";
	return [title, format(header), format(widths.map((w) => "-".repeat(w))), ...lines.map(format), "", ...appendTargets(rows), "", ...whereRowsGo(rows, "append (text message)")].join("\n");
}

/**
 * The cost targets for a plain text append: at most 3 rows written by the request, and
 * total billed work within 2x of the peer's. Writes dominate the bill (a row written is priced
 * 1000 times a row read), so the total compared is rows written: the request's, the drain's
 * SQLite rows and the rows it writes to D1.
 */
function appendTargets(rows: OperationRows[]): string[] {
	const append = rows.find((row) => row.operation === "append (text message)");
	if (!append?.ours || !append.peer) return [];
	const { request, drain } = append.ours;
	const ours = request.rowsWritten + drain.sql.rowsWritten + drain.d1.rowsWritten;
	const peer = append.peer.request.rowsWritten;
	const ratio = ours / peer;
	return [
		`append, rows written by the request: ${request.rowsWritten} (target <= 3: ${request.rowsWritten <= 3 ? "met" : "MISSED"})`,
		`append, rows written in all (request ${request.rowsWritten} + drain ${drain.sql.rowsWritten} + D1 ${drain.d1.rowsWritten}): ${ours.toFixed(2)} against the peer's ${peer}: ${ratio.toFixed(2)}x (target <= 2x: ${ratio <= 2 ? "met" : "MISSED"})`,
	];
}

/** The queries that write rows in one operation, ours and the peer's: where the billed writes go. */
function whereRowsGo(rows: OperationRows[], operation: string): string[] {
	const row = rows.find((candidate) => candidate.operation === operation);
	const written = (queries: QueryRows[] | undefined) =>
		(queries ?? []).filter((query) => query.rowsWritten > 0).map((query) => `  ${String(query.rowsWritten).padStart(5)} written  ${String(query.rowsRead).padStart(5)} read  ${query.query.slice(0, 110)}`);
	return [
		`Rows written per ${operation}, by query: ours, request`,
		...written(row?.ours?.queries),
		"ours, drain (SQLite)",
		...written(row?.ours?.drain.queries),
		"ours, drain (D1)",
		...written(row?.ours?.drain.d1Queries),
		"peer",
		...written(row?.peer?.queries),
	];
}
