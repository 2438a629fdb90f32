// Copies Swagger UI's files from node_modules into public/docs-assets/, which the Worker serves
// as static assets: the docs page at /docs then needs no CDN and renders with no internet.
// Runs after every `npm install` (postinstall); public/docs-assets/ is not committed.
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";

const source = path.join("node_modules", "swagger-ui-dist");
const target = path.join("public", "docs-assets");
mkdirSync(target, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) copyFileSync(path.join(source, file), path.join(target, file));
