/**
 * vitest globalSetup of the "langgraph" project: bundles the Worker exactly as it would be
 * uploaded (`wrangler deploy --dry-run --outdir`) and serves it with Miniflare in this process,
 * with real Durable Objects, D1 and R2 (in memory), on 127.0.0.1 and a free port. Tests get its
 * URL and bootstrap admin key through `inject`.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import type { TestProject } from "vitest/node";

const root = path.resolve(import.meta.dirname, "../..");
const ADMIN_KEY = "langgraph-admin-key-0123456789";

declare module "vitest" {
	export interface ProvidedContext {
		workerUrl: string;
		adminKey: string;
	}
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
	const outDir = await mkdtemp(path.join(tmpdir(), "edge-context-langgraph-"));
	await promisify(execFile)(path.join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outDir], {
		cwd: root,
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: outDir },
		maxBuffer: 16 * 1024 * 1024,
	});
	const scriptPath = path.join(outDir, "index.js");
	// Miniflare 5 takes a list of workers; the flat v4 options convert, as wrangler and the bench do.
	const mf = new Miniflare(convertV4MiniflareOptions({
		host: "127.0.0.1",
		port: 0,
		cf: false,
		telemetry: { enabled: false },
		// The Worker logs a line per request: thousands here, so only its errors are shown.
		handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
			stdout.resume();
			stderr.pipe(process.stderr);
		},
		modules: true,
		scriptPath,
		modulesRoot: outDir,
		compatibilityDate: "2026-11-01",
		durableObjects: {
			SESSION: { className: "SessionObject", useSQLite: true },
			ERASURE: { className: "ErasureObject", useSQLite: true },
			INDEX_PROJECTOR: { className: "IndexProjector", useSQLite: true },
		},
		d1Databases: { DB: "edge-context" },
		r2Buckets: { BLOBS: "edge-context-blobs" },
		bindings: { ADMIN_API_KEY: ADMIN_KEY, INLINE_LIMIT_BYTES: "16384", MAX_REQUEST_BYTES: "4194304", ADMIN_TENANT: "default", INDEX_DATABASES: "DB" },
	}));
	const url = await mf.ready;
	const database = await mf.getD1Database("DB");
	const migrations = path.join(root, "migrations");
	for (const file of (await readdir(migrations)).filter((name) => name.endsWith(".sql")).sort()) {
		const statements = (await readFile(path.join(migrations, file), "utf8"))
			.split("--> statement-breakpoint")
			.map((statement) => statement.trim())
			.filter(Boolean);
		await database.batch(statements.map((statement) => database.prepare(statement)));
	}
	project.provide("workerUrl", url.href.replace(/\/$/, ""));
	project.provide("adminKey", ADMIN_KEY);
	return async () => {
		await mf.dispose();
		await rm(outDir, { recursive: true, force: true });
	};
}
