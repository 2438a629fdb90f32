/**
 * Runs the capabilities' migrations, round by round, in the constructor's
 * blockConcurrencyWhile, so no request ever sees a half-migrated schema. Objects created
 * before migrations were split by capability recorded one global version; every round up to
 * it counts as applied.
 */
import type { Capability } from "./capability";

export function migrate(sql: SqlStorage, capabilities: readonly Capability[]): void {
	sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
	const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
	const applied = row?.version ?? 0;
	const rounds = Math.max(...capabilities.map((capability) => capability.migrations.length));
	for (let round = applied; round < rounds; round++) {
		for (const capability of capabilities) for (const statement of capability.migrations[round] ?? []) sql.exec(statement);
	}
	if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (?)", rounds);
	else if (applied < rounds) sql.exec("UPDATE schema_version SET version = ?", rounds);
}
