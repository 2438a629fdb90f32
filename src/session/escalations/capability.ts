import type { Capability } from "../kernel/capability";
import { DELIVER_TIMER, deliverWebhook, ESCALATE_TIMER, escalateWhenDue } from "./escalations";

/**
 * Escalations: a pending approval past its deadline, or a workflow failed at its attempt
 * limit, becomes one `escalation` event with a self-contained package, and a signed webhook
 * delivery when a URL is configured.
 */
export const escalations: Capability = {
	name: "escalations",
	migrations: [
		[],
		[],
		[],
		[
			`CREATE TABLE escalations (
				subject TEXT PRIMARY KEY,
				delivery_id TEXT NOT NULL,
				reason TEXT NOT NULL,
				package TEXT NOT NULL,
				webhook TEXT,
				created_at INTEGER NOT NULL,
				delivered_at INTEGER,
				last_status INTEGER
			) WITHOUT ROWID`,
		],
	],
	contentTables: ["escalations"],
	timers: { [ESCALATE_TIMER]: escalateWhenDue, [DELIVER_TIMER]: deliverWebhook },
};
