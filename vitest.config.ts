import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { startWebhookReceiver } from "./test/support/webhook-receiver";

export default defineConfig(async () => {
	const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
	const receiver = await startWebhookReceiver();
	return {
		test: {
			// Request logs are noise when a test passes and context when it fails.
			silent: "passed-only",
			// The first write in each file loads the tokenizer (seconds under vitest's transform,
			// more on a busy machine): a safety limit, not a timing assertion.
			testTimeout: 30_000,
			projects: [
				{
					plugins: [
						cloudflareTest({
							wrangler: { configPath: "./wrangler.toml" },
							miniflare: {
								// Two index shards, so every test also runs tenant routing: the admin tenant's shard is DB.
								d1Databases: { INDEX_1: "edge-context-index-1" },
								bindings: {
									INDEX_DATABASES: "DB,INDEX_1",
									ADMIN_API_KEY: "test-admin-key-0123456789",
									WEBHOOK_SIGNING_SECRET: "test-webhook-secret-0123456789",
									ALLOW_LOCAL_WEBHOOKS: "true",
									// Two pairs: "t2" signs, "t1" still verifies (a rotation in progress).
									TOKEN_SIGNING_KEYS: "t2:test-token-signing-secret-two-0123456789,t1:test-token-signing-secret-one-0123456789",
									ERASURE_SIGNING_KEY: "MC4CAQAwBQYDK2VwBCIEIOxu4J5HS9Kvmb/MnBerNqKf7GGe/qy2E18pYj4z2dKR",
									WEBHOOK_RECEIVER_URL: receiver.url,
									TEST_MIGRATIONS: migrations,
								},
							},
						}),
					],
					test: {
						name: "workers",
						include: ["test/*.test.ts"],
						setupFiles: ["./test/apply-migrations.ts"],
					},
				},
				{
					test: { name: "node", include: ["test/node/*.test.ts"], environment: "node" },
				},
				{
					// The LangGraph conformance suite expects vitest globals; the Worker is bundled and served once by the setup.
					test: {
						name: "langgraph",
						include: ["test/langgraph/*.test.ts"],
						environment: "node",
						globals: true,
						globalSetup: ["./test/langgraph/worker-host.ts"],
						hookTimeout: 120_000,
					},
				},
			],
		},
	};
});
