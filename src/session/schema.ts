/**
 * The session object's SQLite schema, as ordered migrations. Each entry runs once, in order,
 * inside the constructor's blockConcurrencyWhile, so no request ever sees a half-migrated
 * schema. Never edit an entry that has shipped: append a new one.
 */
const migrations: string[][] = [
	[
		`CREATE TABLE session (
			singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
			id TEXT NOT NULL,
			tenant TEXT NOT NULL,
			status TEXT NOT NULL,
			agent TEXT,
			subject TEXT,
			parent_id TEXT,
			metadata TEXT NOT NULL,
			policy TEXT NOT NULL,
			version INTEGER NOT NULL,
			last_seq INTEGER NOT NULL,
			event_count INTEGER NOT NULL,
			state_key_count INTEGER NOT NULL,
			tokens_total INTEGER NOT NULL,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			deleted_at INTEGER
		)`,
		`CREATE TABLE events (
			seq INTEGER PRIMARY KEY,
			version INTEGER NOT NULL,
			type TEXT NOT NULL,
			role TEXT,
			name TEXT,
			tool_call_id TEXT,
			content TEXT,
			blob_sha256 TEXT,
			blob_bytes INTEGER,
			preview TEXT,
			metadata TEXT,
			tokens INTEGER NOT NULL,
			tokens_cumulative INTEGER NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE INDEX events_by_type ON events (type, seq)`,
		`CREATE TABLE state (
			ns TEXT NOT NULL,
			key TEXT NOT NULL,
			value TEXT,
			blob_sha256 TEXT,
			blob_bytes INTEGER,
			preview TEXT,
			version INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			PRIMARY KEY (ns, key)
		) WITHOUT ROWID`,
		`CREATE TABLE idempotency (
			key TEXT PRIMARY KEY,
			fingerprint TEXT NOT NULL,
			response TEXT NOT NULL,
			created_at INTEGER NOT NULL
		) WITHOUT ROWID`,
		`CREATE INDEX idempotency_by_age ON idempotency (created_at)`,
		`CREATE TABLE lease (
			singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
			holder TEXT NOT NULL,
			token INTEGER NOT NULL,
			expires_at INTEGER NOT NULL
		)`,
		`CREATE TABLE outbox (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			payload TEXT NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE jobs (
			name TEXT PRIMARY KEY,
			due_at INTEGER NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_error TEXT
		) WITHOUT ROWID`,
	],
	// Context engine: pins, provider-reported usage, compaction with archives, state history
	// for time travel, checkpoints and restores.
	[
		"ALTER TABLE events ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
		"ALTER TABLE events ADD COLUMN preview_tokens INTEGER",
		"ALTER TABLE events ADD COLUMN usage TEXT",
		"ALTER TABLE events ADD COLUMN archived_by INTEGER",
		"CREATE INDEX events_hot ON events (archived_by, seq)",
		"CREATE INDEX events_pinned ON events (seq) WHERE pinned = 1",
		"ALTER TABLE state ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
		"ALTER TABLE state ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
		`CREATE TABLE state_log (
			ns TEXT NOT NULL,
			key TEXT NOT NULL,
			version INTEGER NOT NULL,
			value TEXT,
			blob_sha256 TEXT,
			blob_bytes INTEGER,
			preview TEXT,
			pinned INTEGER NOT NULL,
			tokens INTEGER NOT NULL,
			deleted INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			PRIMARY KEY (ns, key, version)
		) WITHOUT ROWID`,
		`INSERT INTO state_log (ns, key, version, value, blob_sha256, blob_bytes, preview, pinned, tokens, deleted, updated_at)
		 SELECT ns, key, version, value, blob_sha256, blob_bytes, preview, pinned, tokens, 0, updated_at FROM state`,
		`CREATE TABLE compactions (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			version INTEGER NOT NULL,
			from_seq INTEGER NOT NULL,
			to_seq INTEGER NOT NULL,
			archived_count INTEGER NOT NULL,
			summary TEXT NOT NULL,
			summary_data TEXT NOT NULL,
			summary_tokens INTEGER NOT NULL,
			before_tokens INTEGER NOT NULL,
			after_tokens INTEGER NOT NULL,
			summarizer TEXT NOT NULL,
			trigger TEXT NOT NULL,
			archive_key TEXT,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE archived_events (
			seq INTEGER NOT NULL,
			compaction_id INTEGER NOT NULL,
			PRIMARY KEY (seq, compaction_id)
		) WITHOUT ROWID`,
		`CREATE TABLE restores (
			version INTEGER PRIMARY KEY,
			target_version INTEGER NOT NULL,
			checkpoint TEXT,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE checkpoints (
			name TEXT PRIMARY KEY,
			version INTEGER NOT NULL,
			last_seq INTEGER NOT NULL,
			created_at INTEGER NOT NULL
		) WITHOUT ROWID`,
		"ALTER TABLE session ADD COLUMN reported_input_tokens INTEGER",
		"ALTER TABLE session ADD COLUMN reported_at_context INTEGER",
		"ALTER TABLE session ADD COLUMN context_tokens INTEGER NOT NULL DEFAULT 0",
		"ALTER TABLE session ADD COLUMN summary_tokens INTEGER NOT NULL DEFAULT 0",
		"ALTER TABLE session ADD COLUMN last_compaction_at INTEGER",
		"ALTER TABLE session ADD COLUMN forked_from TEXT",
		"UPDATE session SET context_tokens = (SELECT coalesce(sum(tokens), 0) FROM events)",
	],
];

/** Brings the object's schema up to date; cheap when it already is. */
export function migrate(sql: SqlStorage): void {
	sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
	const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
	const current = row?.version ?? 0;
	for (let index = current; index < migrations.length; index++) {
		for (const statement of migrations[index]) sql.exec(statement);
	}
	if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (?)", migrations.length);
	else if (current < migrations.length) sql.exec("UPDATE schema_version SET version = ?", migrations.length);
}
