import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { audit } from "../src/session/audit/capability";
import { projection } from "../src/session/projection/capability";
import { call, createSession, sessionObject } from "./helpers";

/** The round that took AUTOINCREMENT off the outbox and the audit trail. */
const ROUND = 10;

describe("upgrading an object from the AUTOINCREMENT outbox and audit trail", () => {
	it("keeps every row and never gives an id or seq the old tables had given", async () => {
		const id = await createSession();
		const after = await runInDurableObject(sessionObject(id), (_instance, state) => {
			const sql = state.storage.sql;
			// The tables as round 0 and round 4 made them, with ids given and some rows gone.
			sql.exec("DROP TABLE outbox");
			sql.exec("DROP TABLE outbox_mark");
			sql.exec("DROP TABLE event_projection");
			sql.exec("DROP TABLE audit");
			sql.exec(projection.migrations[0][0]);
			for (const statement of audit.migrations[4].filter((text) => text.startsWith("CREATE TABLE audit ("))) sql.exec(statement);
			for (let row = 0; row < 5; row++) {
				sql.exec("INSERT INTO outbox (payload, created_at) VALUES ('{}', 0)");
				sql.exec("INSERT INTO audit (at, principal, operation, version) VALUES (?, 'p', 'read', 1)", Date.now());
			}
			sql.exec("DELETE FROM outbox");
			sql.exec("DELETE FROM audit WHERE seq <= 3");
			sql.exec("UPDATE audit_projection SET projected_seq = 3");

			for (const statement of [...projection.migrations[ROUND], ...audit.migrations[ROUND]]) sql.exec(statement);
			return {
				auditKept: sql.exec<{ seq: number }>("SELECT seq FROM audit ORDER BY seq").toArray().map((row) => row.seq),
				outboxMark: sql.exec<{ last_removed_id: number }>("SELECT last_removed_id FROM outbox_mark").one().last_removed_id,
			};
		});
		expect(after).toEqual({ auditKept: [4, 5], outboxMark: 5 });

		// The next write (a state put: appended events need no outbox row) queues outbox id 6 and audit seq 6.
		expect((await call(`/v1/sessions/${id}/state/kv/a`, { method: "PUT", body: { value: 1 } })).status).toBe(200);
		const appended = await runInDurableObject(sessionObject(id), (_instance, state) => {
			const sql = state.storage.sql;
			return {
				outbox: sql.exec<{ id: number }>("SELECT id FROM outbox").toArray().map((row) => row.id),
				audit: sql.exec<{ seq: number }>("SELECT seq FROM audit ORDER BY seq").toArray().map((row) => row.seq),
			};
		});
		expect(appended).toEqual({ outbox: [6], audit: [4, 5, 6] });
	});
});
