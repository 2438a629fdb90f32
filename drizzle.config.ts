import { defineConfig } from "drizzle-kit";

// Generates the D1 SQL migrations in migrations/ from src/db/schema.ts; wrangler applies them.
export default defineConfig({
	dialect: "sqlite",
	schema: "./src/db/schema.ts",
	out: "./migrations",
});
