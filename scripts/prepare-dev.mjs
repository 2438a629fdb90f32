// Readies a fresh checkout for `wrangler dev`: a local .dev.vars with the development admin
// key, and the D1 migrations applied to the local database (.wrangler/state, kept across runs).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";

if (!existsSync(".dev.vars")) {
	copyFileSync(".dev.vars.example", ".dev.vars");
	console.log("Created .dev.vars from .dev.vars.example (development admin key).");
}
execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], {
	stdio: "inherit",
	env: { ...process.env, CI: "true" },
});
