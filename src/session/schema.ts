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
