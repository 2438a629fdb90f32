import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			TEST_MIGRATIONS: D1Migration[];
			/** The second index shard (vitest.config.ts). */
			INDEX_1: D1Database;
			/** The test run's webhook receiver (test/webhook-receiver.ts). */
			WEBHOOK_RECEIVER_URL: string;
		}
	}
}
