/**
 * Our figures against the floor's: ratios, the issue's targets, and the printed table. Targets
 * are reported, never enforced: local timings say where to look, not whether to ship.
 */
import { type Measurement, round } from "./load";
import type { ScenarioName } from "./scenarios";

export const TARGETS = {
	scenarios: ["append", "state-get"] as ScenarioName[],
	/** ours p50 / floor p50 at concurrency 1. */
	p50RatioAtConcurrency1: 1.2,
	/** ours p95 / floor p95 at concurrency 32. */
	p95RatioAtConcurrency32: 2,
};

export interface Row {
	mode: string;
	scenario: ScenarioName;
	concurrency: number;
	ours: Measurement;
	floor: Measurement;
	ratio: { p50: number; p95: number; p99: number; requestsPerSecond: number };
	target: { rule: string; met: boolean } | null;
	/** How long after our load stopped the D1 index had caught up with it. */
	projectionCatchUpMs: number;
}

export function compare(
	mode: string,
	scenario: ScenarioName,
	concurrency: number,
	ours: Measurement,
	floor: Measurement,
	projectionCatchUpMs: number,
): Row {
	const ratio = {
		p50: round(ours.latencyMs.p50 / floor.latencyMs.p50, 3),
		p95: round(ours.latencyMs.p95 / floor.latencyMs.p95, 3),
		p99: round(ours.latencyMs.p99 / floor.latencyMs.p99, 3),
		requestsPerSecond: round(ours.requestsPerSecond / floor.requestsPerSecond, 3),
	};
	return { mode, scenario, concurrency, ours, floor, ratio, target: targetFor(scenario, concurrency, ratio), projectionCatchUpMs };
}

function targetFor(scenario: ScenarioName, concurrency: number, ratio: Row["ratio"]): Row["target"] {
	if (!TARGETS.scenarios.includes(scenario)) return null;
	if (concurrency === 1) {
		const limit = TARGETS.p50RatioAtConcurrency1;
		return { rule: `p50 <= ${limit}x floor`, met: ratio.p50 <= limit };
	}
	if (concurrency === 32) {
		const limit = TARGETS.p95RatioAtConcurrency32;
		return { rule: `p95 <= ${limit}x floor`, met: ratio.p95 <= limit };
	}
	return null;
}

/** Requests that did not answer 2xx, or never answered, in either server. */
export function failures(row: Row): number {
	return row.ours.non2xx + row.ours.errors + row.floor.non2xx + row.floor.errors;
}

const ms = (value: number) => value.toFixed(2);
const times = (value: number) => `${value.toFixed(2)}x`;

const columns: { title: string; align: "left" | "right"; cell: (row: Row) => string }[] = [
	{ title: "mode", align: "left", cell: (row) => row.mode },
	{ title: "scenario", align: "left", cell: (row) => row.scenario },
	{ title: "c", align: "right", cell: (row) => String(row.concurrency) },
	{ title: "p50 ms", align: "right", cell: (row) => ms(row.ours.latencyMs.p50) },
	{ title: "p95 ms", align: "right", cell: (row) => ms(row.ours.latencyMs.p95) },
	{ title: "p99 ms", align: "right", cell: (row) => ms(row.ours.latencyMs.p99) },
	{ title: "req/s", align: "right", cell: (row) => row.ours.requestsPerSecond.toFixed(0) },
	{ title: "floor p50", align: "right", cell: (row) => ms(row.floor.latencyMs.p50) },
	{ title: "floor p95", align: "right", cell: (row) => ms(row.floor.latencyMs.p95) },
	{ title: "floor req/s", align: "right", cell: (row) => row.floor.requestsPerSecond.toFixed(0) },
	{ title: "x p50", align: "right", cell: (row) => times(row.ratio.p50) },
	{ title: "x p95", align: "right", cell: (row) => times(row.ratio.p95) },
	{ title: "target", align: "left", cell: (row) => (row.target ? `${row.target.met ? "met" : "MISSED"} (${row.target.rule})` : "-") },
	{ title: "non-2xx", align: "right", cell: (row) => String(failures(row)) },
	{ title: "D1 lag ms", align: "right", cell: (row) => String(row.projectionCatchUpMs) },
];

/** The results as an aligned text table, a blank line between modes. */
export function formatTable(rows: Row[]): string {
	const cells = rows.map((row) => columns.map((column) => column.cell(row)));
	const widths = columns.map((column, index) => Math.max(column.title.length, ...cells.map((line) => line[index].length)));
	const line = (values: string[]) =>
		values
			.map((value, index) => (columns[index].align === "left" ? value.padEnd(widths[index]) : value.padStart(widths[index])))
			.join("  ")
			.trimEnd();
	const lines = [line(columns.map((column) => column.title)), line(widths.map((width) => "-".repeat(width)))];
	cells.forEach((values, index) => {
		if (index > 0 && rows[index].mode !== rows[index - 1].mode) lines.push("");
		lines.push(line(values));
	});
	return lines.join("\n");
}

/** One line per mode: how many of the issue's targets were met. */
export function formatTargetSummary(rows: Row[]): string {
	const modes = [...new Set(rows.map((row) => row.mode))];
	return modes
		.map((mode) => {
			const judged = rows.filter((row) => row.mode === mode && row.target);
			const missed = judged.filter((row) => !row.target?.met).map((row) => `${row.scenario} c=${row.concurrency}`);
			const met = judged.length - missed.length;
			return `${mode}: ${met}/${judged.length} targets met${missed.length ? ` (missed: ${missed.join(", ")})` : ""}`;
		})
		.join("\n");
}
