/** Writes the API's OpenAPI document (generated from its zod schemas) to the given path. */
import { writeFileSync } from "node:fs";
import { buildApp } from "../src/app";

const target = process.argv[2];
if (!target) throw new Error("usage: tsx scripts/write-openapi.ts <file>");
const response = await buildApp().request("/openapi.json", {}, {});
writeFileSync(target, `${JSON.stringify(await response.json(), null, "\t")}\n`);
