/**
 * `npm run test:browser`: opens /docs in a real headless Chromium (Debian's `chromium`) against
 * `wrangler dev`, with the machine offline for the page (no CDN is reachable): Swagger UI must
 * load from the Worker's own assets, fetch /openapi.json and render the operations. Checks the
 * rendered DOM, and that a screenshot of the page is a real, non-blank image (written to
 * docs/docs-page.png).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startWranglerDev } from "../../bench/processes";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const workDir = mkdtempSync(path.join(tmpdir(), "edge-context-docs-"));
const screenshot = path.join(import.meta.dirname, "../../docs/docs-page.png");

function chromium(url: string, ...extra: string[]): string {
	return execFileSync(
		CHROMIUM,
		[
			"--headless",
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
			`--user-data-dir=${path.join(workDir, `profile-${extra.length}`)}`,
			"--virtual-time-budget=15000",
			"--window-size=1280,1800",
			...extra,
			url,
		],
		{ encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "ignore"] },
	);
}

const server = await startWranglerDev({
	name: "docs",
	configPath: "wrangler.toml",
	persistDir: path.join(workDir, "state"),
	registryDir: path.join(workDir, "registry"),
	logPath: path.join(workDir, "wrangler.log"),
	env: {},
	vars: { ADMIN_API_KEY: "docs-test-admin-key-0123456789" },
});
let failed = false;
try {
	const dom = chromium(`${server.url}/docs`, "--dump-dom");
	const expectations = ["swagger-ui", "Append one or more events atomically", "Create a session", "/v1/sessions/{id}/context", "appendEvents"];
	for (const text of expectations) {
		if (!dom.includes(text)) {
			console.error(`docs page: the rendered page does not show "${text}"`);
			failed = true;
		}
	}
	chromium(`${server.url}/docs`, `--screenshot=${screenshot}`);
	const image = readFileSync(screenshot);
	const isPng = image.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
	// A blank 1280x1800 page compresses to a few KiB; the rendered operation list is far larger.
	if (!isPng || statSync(screenshot).size < 40_000) {
		console.error(`docs page: the screenshot looks blank (${statSync(screenshot).size} bytes)`);
		failed = true;
	}
	console.log(`docs page: ${failed ? "FAILED" : "ok"} (DOM ${dom.length} chars, screenshot ${statSync(screenshot).size} bytes at ${path.relative(process.cwd(), screenshot)})`);
} finally {
	await server.stop();
	rmSync(workDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
