import { Hono } from "hono";
import type { AppEnv } from "../app-env";

/**
 * `/docs`: Swagger UI over `/openapi.json`. Its script and styles are the Worker's own static
 * assets (public/docs-assets), so the page renders with no internet.
 */
export const docsRoutes = new Hono<AppEnv>();

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-context API</title>
<link rel="icon" href="/docs-assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true });
</script>
</body>
</html>`;

docsRoutes.get("/docs", (c) => c.html(page));
