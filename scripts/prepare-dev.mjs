// Readies a checkout for `wrangler dev`: a local .dev.vars with the development secrets (a
// .dev.vars from an older checkout gains the ones added since), and the D1 migrations applied
// to the local databases (.wrangler/state, kept across runs): DB and every index shard that
// wrangler.toml's INDEX_DATABASES lists.
import { execFileSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";

if (!existsSync(".dev.vars")) {
	copyFileSync(".dev.vars.example", ".dev.vars");
	console.log("Created .dev.vars from .dev.vars.example (development secrets).");
} else {
	const namesIn = (text) => new Set(text.split("\n").filter((line) => /^[A-Z_]+=/.test(line)).map((line) => line.split("=")[0]));
	const present = namesIn(readFileSync(".dev.vars", "utf8"));
	const missing = readFileSync(".dev.vars.example", "utf8")
		.split("\n")
		.filter((line) => /^[A-Z_]+=/.test(line) && !present.has(line.split("=")[0]));
	if (missing.length > 0) {
		appendFileSync(".dev.vars", `\n${missing.join("\n")}\n`);
		console.log(`Added to .dev.vars: ${missing.map((line) => line.split("=")[0]).join(", ")}`);
	}
}
const listed = /^INDEX_DATABASES\s*=\s*"([^"]*)"/m.exec(readFileSync("wrangler.toml", "utf8"))?.[1] ?? "DB";
const databases = new Set(["DB", ...listed.split(",").map((name) => name.trim()).filter((name) => name.length > 0)]);
for (const database of databases) {
	execFileSync("wrangler", ["d1", "migrations", "apply", database, "--local"], {
		stdio: "inherit",
		env: { ...process.env, CI: "true" },
	});
}
