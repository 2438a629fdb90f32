/**
 * The plot of bench/context.ts, as hand-written SVG (no dependencies): context assembly p50
 * and p95 latency against session length on a log x axis, with the cost of a request that
 * reaches the session's object without assembling anything drawn as a dashed baseline.
 */

export interface LatencyPoint {
	events: number;
	p50: number;
	p95: number;
}

export interface PlotInput {
	title: string;
	subtitle: string;
	budget: number;
	points: LatencyPoint[];
	/** Horizontal references, e.g. GET /v1/sessions/:id (Worker + auth + object round trip). */
	baselines: { label: string; p50: number; p95: number }[];
	/** Lines of small print under the legend. */
	note?: string[];
}

const WIDTH = 780;
const HEIGHT = 440;
const MARGIN = { left: 70, right: 240, top: 64, bottom: 62 };

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fixed = (value: number) => value.toFixed(1);

/** A round step for about `count` ticks over [0, max]. */
function tickStep(max: number, count: number): number {
	const raw = max / count;
	const power = 10 ** Math.floor(Math.log10(raw));
	const scaled = raw / power;
	return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 2.5 ? 2.5 : scaled <= 5 ? 5 : 10) * power;
}

function formatEvents(events: number): string {
	return events >= 1000 ? `${events / 1000}k` : String(events);
}

export function latencySvg(input: PlotInput): string {
	const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
	const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
	const xs = input.points.map((point) => point.events);
	const [minLog, maxLog] = [Math.log10(Math.min(...xs)) - 0.15, Math.log10(Math.max(...xs)) + 0.15];
	const highest = Math.max(...input.points.map((point) => point.p95), ...input.baselines.map((line) => line.p95));
	const step = tickStep(highest * 1.1, 5);
	const yMax = Math.ceil((highest * 1.1) / step) * step;
	const x = (events: number) => MARGIN.left + ((Math.log10(events) - minLog) / (maxLog - minLog)) * plotWidth;
	const y = (ms: number) => MARGIN.top + plotHeight - (ms / yMax) * plotHeight;

	const parts: string[] = [];
	parts.push(
		`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
		`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
		`<text x="${MARGIN.left}" y="26" font-size="16" font-weight="bold">${escape(input.title)}</text>`,
		`<text x="${MARGIN.left}" y="46" fill="#555555">${escape(input.subtitle)}</text>`,
	);

	// Grid and y axis.
	for (let value = 0; value <= yMax + step / 1000; value += step) {
		const yy = fixed(y(value));
		parts.push(
			`<line x1="${MARGIN.left}" y1="${yy}" x2="${MARGIN.left + plotWidth}" y2="${yy}" stroke="#e5e5e5"/>`,
			`<text x="${MARGIN.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#333333">${Number(value.toFixed(3))}</text>`,
		);
	}
	// x axis: decades.
	for (let power = Math.ceil(minLog); power <= Math.floor(maxLog); power++) {
		const xx = fixed(x(10 ** power));
		parts.push(
			`<line x1="${xx}" y1="${MARGIN.top}" x2="${xx}" y2="${MARGIN.top + plotHeight}" stroke="#e5e5e5"/>`,
			`<text x="${xx}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle" fill="#333333">${formatEvents(10 ** power)}</text>`,
		);
	}
	parts.push(
		`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999999"/>`,
		`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 18}" text-anchor="middle">events in the session (log scale); budget ${input.budget} tokens</text>`,
		`<text transform="translate(20 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`,
	);

	// Baselines, dashed.
	const baselineColors = ["#7f7f7f", "#b0b0b0"];
	input.baselines.forEach((line, index) => {
		const color = baselineColors[index % baselineColors.length];
		for (const [value, dash] of [
			[line.p50, "6 4"],
			[line.p95, "2 3"],
		] as const) {
			const yy = fixed(y(value));
			parts.push(`<line x1="${MARGIN.left}" y1="${yy}" x2="${MARGIN.left + plotWidth}" y2="${yy}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`);
		}
	});

	// Series.
	const series = [
		{ label: "context p50", color: "#1f77b4", value: (point: LatencyPoint) => point.p50 },
		{ label: "context p95", color: "#d62728", value: (point: LatencyPoint) => point.p95 },
	];
	for (const { color, value } of series) {
		const path = input.points.map((point, index) => `${index === 0 ? "M" : "L"}${fixed(x(point.events))} ${fixed(y(value(point)))}`).join(" ");
		parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
		for (const point of input.points) {
			const [xx, yy] = [fixed(x(point.events)), fixed(y(value(point)))];
			parts.push(
				`<circle cx="${xx}" cy="${yy}" r="4" fill="${color}"/>`,
				`<text x="${xx}" y="${fixed(y(value(point)) - 9)}" text-anchor="middle" fill="${color}" font-size="11">${value(point).toFixed(2)}</text>`,
			);
		}
	}

	// Legend.
	const legendX = MARGIN.left + plotWidth + 16;
	let legendY = MARGIN.top + 8;
	for (const { label, color } of series) {
		parts.push(
			`<line x1="${legendX}" y1="${legendY}" x2="${legendX + 24}" y2="${legendY}" stroke="${color}" stroke-width="2.5"/>`,
			`<circle cx="${legendX + 12}" cy="${legendY}" r="4" fill="${color}"/>`,
			`<text x="${legendX + 32}" y="${legendY}" dominant-baseline="middle">${escape(label)}</text>`,
		);
		legendY += 22;
	}
	input.baselines.forEach((line, index) => {
		const color = baselineColors[index % baselineColors.length];
		for (const [suffix, dash] of [
			["p50", "6 4"],
			["p95", "2 3"],
		] as const) {
			parts.push(
				`<line x1="${legendX}" y1="${legendY}" x2="${legendX + 24}" y2="${legendY}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"/>`,
				`<text x="${legendX + 32}" y="${legendY}" dominant-baseline="middle">${escape(`${line.label} ${suffix}`)}</text>`,
			);
			legendY += 22;
		}
	});
	legendY += 8;
	for (const line of input.note ?? []) {
		parts.push(`<text x="${legendX}" y="${legendY}" fill="#555555" font-size="10.5">${escape(line)}</text>`);
		legendY += 15;
	}
	parts.push("</svg>");
	return `${parts.join("\n")}\n`;
}
