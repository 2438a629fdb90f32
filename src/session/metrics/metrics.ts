/**
 * Counters and latency histograms a session keeps about itself: resumes, restores,
 * escalations, and the lookups the Worker timed (state and context reads, by latency bucket
 * and by error code). Each change marks its row dirty; the projection drain copies dirty rows
 * to D1 as absolute values (idempotent), where /v1/metrics adds them up across sessions.
 */
import { scheduleRecords } from "../projection/outbox";

export type Counter = "resumes" | "restores" | "escalations";

/** Upper bounds (ms) of the latency buckets; the last bucket is everything above. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;

export interface LookupSample {
	operation: "state" | "context";
	ms: number;
	/** The error code, when the lookup failed. */
	error: string | null;
}

export function bucketOf(ms: number): string {
	const bound = LATENCY_BUCKETS_MS.find((limit) => ms <= limit);
	return bound === undefined ? "+Inf" : String(bound);
}

export function add(sql: SqlStorage, name: string, label: string, by: number, now: number): void {
	sql.exec(
		"INSERT INTO metrics (name, label, value, dirty) VALUES (?, ?, ?, 1) ON CONFLICT (name, label) DO UPDATE SET value = value + excluded.value, dirty = 1",
		name,
		label,
		by,
	);
	scheduleRecords(sql, now);
}

export function count(sql: SqlStorage, counter: Counter, now: number): void {
	add(sql, counter, "", 1, now);
}

export function recordLookups(sql: SqlStorage, samples: LookupSample[], now: number): void {
	const histogram = new Map<string, number>();
	for (const sample of samples) {
		const label = sample.error === null ? `${sample.operation}:${bucketOf(sample.ms)}` : `${sample.operation}:${sample.error}`;
		const name = sample.error === null ? "lookup_ms" : "lookup_errors";
		histogram.set(`${name}\n${label}`, (histogram.get(`${name}\n${label}`) ?? 0) + 1);
	}
	for (const [key, by] of histogram) {
		const [name, label] = key.split("\n");
		add(sql, name, label, by, now);
	}
}

export interface MetricRow {
	name: string;
	label: string;
	value: number;
}

export function dirtyRows(sql: SqlStorage): MetricRow[] {
	return sql.exec<MetricRow & Record<string, SqlStorageValue>>("SELECT name, label, value FROM metrics WHERE dirty = 1 ORDER BY name, label").toArray();
}

/** Marks rows clean unless they changed while D1 was being written. */
export function markProjected(sql: SqlStorage, rows: MetricRow[]): void {
	for (const row of rows) sql.exec("UPDATE metrics SET dirty = 0 WHERE name = ? AND label = ? AND value = ?", row.name, row.label, row.value);
}
