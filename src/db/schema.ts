/**
 * D1 holds only what must be queried across sessions: the session index, an event index
 * (no content), the first characters of each event's text for search, the audit trail, API
 * keys and revoked tokens. Every row carries its tenant and every query filters by it.
 * The Durable Objects are the source of truth; these tables are a projection of them.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const sessions = sqliteTable(
	"sessions",
	{
		tenant: text("tenant").notNull(),
		id: text("id").notNull(),
		status: text("status", { enum: ["active", "deleted"] }).notNull(),
		agent: text("agent"),
		subject: text("subject"),
		parentId: text("parent_id"),
		version: integer("version").notNull(),
		eventCount: integer("event_count").notNull(),
		tokensTotal: integer("tokens_total").notNull(),
		createdAt: integer("created_at").notNull(),
		updatedAt: integer("updated_at").notNull(),
		deletedAt: integer("deleted_at"),
		/** For the metrics: whether it is paused, and how full its context is against its model's window. */
		paused: integer("paused").notNull().default(0),
		contextTokens: integer("context_tokens").notNull().default(0),
		modelWindow: integer("model_window").notNull().default(128000),
	},
	(table) => [
		primaryKey({ columns: [table.tenant, table.id] }),
		index("sessions_by_updated").on(table.tenant, table.updatedAt, table.id),
		index("sessions_by_agent").on(table.tenant, table.agent, table.updatedAt),
		index("sessions_by_subject").on(table.tenant, table.subject, table.updatedAt),
		index("sessions_by_parent").on(table.tenant, table.parentId),
	],
);

export const events = sqliteTable(
	"events",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		seq: integer("seq").notNull(),
		type: text("type").notNull(),
		role: text("role"),
		name: text("name"),
		tokens: integer("tokens").notNull(),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [
		primaryKey({ columns: [table.tenant, table.sessionId, table.seq] }),
		index("events_by_type").on(table.tenant, table.type, table.createdAt),
	],
);

/**
 * The first 2,000 characters of each event's text, for cross-session search: FTS5 indexes it
 * (`event_search`, an external-content table kept by triggers; raw SQL in migrations/0004_search.sql).
 * Rows arrive through each session's outbox; a session's purge deletes them.
 */
export const eventText = sqliteTable(
	"event_text",
	{
		/** The FTS5 rowid: explicit, so a VACUUM never renumbers it under the index. */
		id: integer("id").primaryKey(),
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		seq: integer("seq").notNull(),
		type: text("type").notNull(),
		text: text("text").notNull(),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [uniqueIndex("event_text_by_event").on(table.tenant, table.sessionId, table.seq)],
);

/** One row per compaction: how much it saved, for cross-session reporting. */
export const compactions = sqliteTable(
	"compactions",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		id: integer("id").notNull(),
		version: integer("version").notNull(),
		fromSeq: integer("from_seq").notNull(),
		toSeq: integer("to_seq").notNull(),
		archivedEvents: integer("archived_events").notNull(),
		beforeTokens: integer("before_tokens").notNull(),
		afterTokens: integer("after_tokens").notNull(),
		summarizer: text("summarizer").notNull(),
		trigger: text("trigger").notNull(),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenant, table.sessionId, table.id] }), index("compactions_by_time").on(table.tenant, table.createdAt)],
);

export const checkpoints = sqliteTable(
	"checkpoints",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		name: text("name").notNull(),
		version: integer("version").notNull(),
		lastSeq: integer("last_seq").notNull(),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenant, table.sessionId, table.name] })],
);

/** One row per approval, for the tenant-wide list of what waits for a person. */
export const approvals = sqliteTable(
	"approvals",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		id: text("id").notNull(),
		status: text("status", { enum: ["pending", "approved", "rejected"] }).notNull(),
		title: text("title").notNull(),
		requestedBy: text("requested_by").notNull(),
		deadline: integer("deadline"),
		createdAt: integer("created_at").notNull(),
		decidedAt: integer("decided_at"),
		/** The session version of the approval's last change: older projections never win. */
		version: integer("version").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenant, table.sessionId, table.id] }), index("approvals_by_status").on(table.tenant, table.status, table.createdAt)],
);

export const apiKeys = sqliteTable(
	"api_keys",
	{
		id: text("id").primaryKey(),
		tenant: text("tenant").notNull(),
		role: text("role", { enum: ["admin", "writer", "reader"] }).notNull(),
		name: text("name"),
		/** SHA-256 of the whole key, hex; the key itself is never stored. */
		hash: text("hash").notNull(),
		/** Session and namespace patterns and delegation (JSON); null: every session, every namespace. */
		scopes: text("scopes"),
		/** Stamped on every read and write the key makes. */
		agent: text("agent"),
		createdAt: integer("created_at").notNull(),
		revokedAt: integer("revoked_at"),
	},
	(table) => [index("api_keys_by_tenant").on(table.tenant, table.createdAt)],
);

/** Revoked token ids until the token would have expired anyway; polled by every isolate. */
export const revokedTokens = sqliteTable(
	"revoked_tokens",
	{
		tenant: text("tenant").notNull(),
		id: text("id").notNull(),
		revokedAt: integer("revoked_at").notNull(),
		expiresAt: integer("expires_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenant, table.id] }), index("revoked_tokens_by_expiry").on(table.expiresAt)],
);

/**
 * The tenant-wide audit trail: every record a session object keeps, projected through its
 * outbox. `what` names what was touched (window parameters, keys, seq ranges), never values.
 */
export const audit = sqliteTable(
	"audit",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		seq: integer("seq").notNull(),
		at: integer("at").notNull(),
		principal: text("principal").notNull(),
		agent: text("agent"),
		operation: text("operation").notNull(),
		version: integer("version").notNull(),
		what: text("what"),
		requestId: text("request_id"),
	},
	(table) => [
		primaryKey({ columns: [table.tenant, table.sessionId, table.seq] }),
		index("audit_by_time").on(table.tenant, table.at),
		index("audit_by_principal").on(table.tenant, table.principal, table.at),
	],
);

/**
 * Figures each session object keeps (counters and latency histograms), projected through its
 * outbox as absolute values; /v1/metrics sums them across the tenant's sessions.
 */
export const sessionMetrics = sqliteTable(
	"session_metrics",
	{
		tenant: text("tenant").notNull(),
		sessionId: text("session_id").notNull(),
		name: text("name").notNull(),
		label: text("label").notNull(),
		value: integer("value").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenant, table.sessionId, table.name, table.label] }), index("session_metrics_by_name").on(table.tenant, table.name)],
);

/** Per-tenant defaults; today the retention a new session gets when its policy names none. */
export const tenantSettings = sqliteTable("tenant_settings", {
	tenant: text("tenant").primaryKey(),
	retention: text("retention"),
	updatedAt: integer("updated_at").notNull(),
});
