/**
 * Serves one bundled Worker with Miniflare's API directly: no `wrangler dev` proxy Worker in
 * front and no local request tracing, which is closer to what production adds per request.
 * Started by bench/processes.ts (for bench/run.ts and bench/context.ts) with a
 * MiniflareHostConfig as its argument; reports its URL over IPC and serves until SIGTERM.
 *
 * A host may be started on the persistence dir of an earlier one (bench/context.ts restarts
 * Miniflare on the same state for the tokenizer cold-start runs), so the D1 migrations are
 * applied only to an empty database.
 *
 * The bindings mirror wrangler.toml, bench/floor/wrangler.toml and
 * bench/peers/agents-sessions.wrangler.toml; Miniflare's own v4-style
 * options go through convertV4MiniflareOptions, as wrangler itself does.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare, type V4SharedOptions, type V4WorkerOptions } from "miniflare";
import type { MiniflareHostConfig } from "./processes";

const config = JSON.parse(process.argv[2]) as MiniflareHostConfig;
const projectRoot = path.resolve(import.meta.dirname, "..");

const shared: V4SharedOptions = {
	host: "127.0.0.1",
	port: 0,
	resourcePersistencePath: config.persistDir,
	// No network here: a placeholder Request.cf, no telemetry.
	cf: false,
	telemetry: { enabled: false },
	...(config.inspectorPort ? { inspectorPort: config.inspectorPort } : {}),
};

const source = {
	scriptPath: config.scriptPath,
	modules: true,
	// Module names are paths relative to this; the bundle lives outside the project.
	modulesRoot: path.dirname(config.scriptPath),
	compatibilityDate: "2026-11-01",
};

const worker: V4WorkerOptions =
	config.target === "ours"
		? {
				name: "edge-context",
				...source,
				durableObjects: {
					SESSION: { className: "SessionObject", useSQLite: true, unsafePreventEviction: config.preventEviction },
					ERASURE: { className: "ErasureObject", useSQLite: true },
					INDEX_PROJECTOR: { className: "IndexProjector", useSQLite: true },
				},
				d1Databases: { DB: "edge-context" },
				r2Buckets: { BLOBS: "edge-context-blobs" },
				bindings: {
					ADMIN_API_KEY: config.adminKey,
					INLINE_LIMIT_BYTES: "16384",
					MAX_REQUEST_BYTES: "4194304",
					ADMIN_TENANT: "default",
					INDEX_DATABASES: "DB",
				},
			}
		: config.target === "floor"
			? {
					name: "edge-context-floor",
					...source,
					durableObjects: { FLOOR: { className: "FloorObject", useSQLite: true, unsafePreventEviction: config.preventEviction } },
				}
			: {
					name: "edge-context-peer-agents-sessions",
					...source,
					durableObjects: { CONVERSATION: { className: "ConversationObject", useSQLite: true } },
					bindings: { COUNT_ROWS: String(config.countRows ?? false) },
				};

const mf = new Miniflare(convertV4MiniflareOptions({ ...shared, ...worker }));
const url = await mf.ready;

if (config.target === "ours") await applyD1Migrations();

process.once("SIGTERM", () => {
	void mf.dispose().finally(() => process.exit(0));
});
process.send?.({ url: url.href });

/** The same SQL `wrangler d1 migrations apply` runs, statement by statement, once per database. */
async function applyD1Migrations(): Promise<void> {
	const database = await mf.getD1Database("DB");
	const tables = await database
		.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
		.first<{ n: number }>();
	if ((tables?.n ?? 0) > 0) return;
	const directory = path.join(projectRoot, "migrations");
	for (const file of readdirSync(directory).filter((name) => name.endsWith(".sql")).sort()) {
		const statements = readFileSync(path.join(directory, file), "utf8")
			.split("--> statement-breakpoint")
			.map((statement) => statement.trim())
			.filter((statement) => statement.length > 0);
		await database.batch(statements.map((statement) => database.prepare(statement)));
	}
}
