/**
 * The Miniflare host of bench/context.ts: serves the `wrangler deploy --dry-run` bundle of
 * edge-context with the bindings of wrangler.toml, reports its URL over IPC and serves until
 * SIGTERM. Started by bench/context-server.ts as `node --import tsx context-host.ts <config>`.
 *
 * A copy of the part of bench/miniflare-host.ts this benchmark needs, with one difference: the
 * persistence dir may be reused by a later process (the tokenizer cold-start runs restart
 * Miniflare on the same state), so the D1 migrations are applied only to an empty database.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

export interface ContextHostConfig {
	/** The bundle from `wrangler deploy --dry-run --outdir`. */
	scriptPath: string;
	persistDir: string;
	adminKey: string;
}

const config = JSON.parse(process.argv[2]) as ContextHostConfig;
const projectRoot = path.resolve(import.meta.dirname, "..");

const mf = new Miniflare(
	convertV4MiniflareOptions({
		host: "127.0.0.1",
		port: 0,
		resourcePersistencePath: config.persistDir,
		cf: false,
		telemetry: { enabled: false },
		name: "edge-context",
		scriptPath: config.scriptPath,
		modules: true,
		modulesRoot: path.dirname(config.scriptPath),
		compatibilityDate: "2026-11-01",
		durableObjects: { SESSION: { className: "SessionObject", useSQLite: true } },
		d1Databases: { DB: "edge-context" },
		r2Buckets: { BLOBS: "edge-context-blobs" },
		bindings: {
			ADMIN_API_KEY: config.adminKey,
			INLINE_LIMIT_BYTES: "16384",
			MAX_REQUEST_BYTES: "4194304",
			ADMIN_TENANT: "default",
		},
	}),
);
const url = await mf.ready;
await applyD1Migrations();

process.once("SIGTERM", () => {
	void mf.dispose().finally(() => process.exit(0));
});
process.send?.({ url: url.href });

/** The SQL `wrangler d1 migrations apply` runs, once per database. */
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
