/**
 * Bench-only accounting of what a Durable Object is billed for: the rows every
 * `ctx.storage.sql.exec` cursor reports (`rowsRead`, `rowsWritten`, the documented billing
 * counters) and, for our object, the D1 statements it runs. Installed on `ctx.storage` before
 * the object's own constructor runs, so the code measured stays as it ships.
 */
import type { D1Counts, QueryRows, RowCounts } from "./row-counts";

/** Sums the billed rows of every cursor `storage.sql.exec` returns, from `install` until `take`. */
export class SqlRowCounter {
	#cursors: { query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }[] = [];

	/** Replaces `storage.sql` with the same object whose `exec` remembers its cursors. */
	install(storage: DurableObjectStorage): void {
		const sql = storage.sql;
		const exec = sql.exec.bind(sql);
		const cursors = this.#cursors;
		Object.defineProperty(sql, "exec", {
			configurable: true,
			value: (query: string, ...bindings: unknown[]) => {
				const cursor = exec(query, ...bindings);
				cursors.push({ query, cursor });
				return cursor;
			},
		});
		// The getter may hand out a fresh wrapper per access; pin the patched one.
		Object.defineProperty(storage, "sql", { configurable: true, value: sql });
	}

	/**
	 * Rows of the statements run since the last take, in total and per query text (where the
	 * rows go). A cursor's counts grow as it is read, so they are summed when taken, after the
	 * request that ran them has answered.
	 */
	take(): { totals: RowCounts; queries: QueryRows[] } {
		const totals = { statements: this.#cursors.length, rowsRead: 0, rowsWritten: 0 };
		const byQuery = new Map<string, QueryRows>();
		for (const { query, cursor } of this.#cursors) {
			totals.rowsRead += cursor.rowsRead;
			totals.rowsWritten += cursor.rowsWritten;
			const text = query.replace(/\s+/g, " ").trim();
			const rows = byQuery.get(text) ?? { query: text, statements: 0, rowsRead: 0, rowsWritten: 0 };
			rows.statements += 1;
			rows.rowsRead += cursor.rowsRead;
			rows.rowsWritten += cursor.rowsWritten;
			byQuery.set(text, rows);
		}
		this.#cursors.length = 0;
		const queries = [...byQuery.values()].sort((a, b) => b.rowsWritten - a.rowsWritten || b.rowsRead - a.rowsRead);
		return { totals, queries };
	}
}

type Executes = "run" | "all" | "first" | "raw";

/** Counts the statements a D1 binding runs and the rows D1 reports for them (`meta.rows_*`). */
export class D1Counter {
	#counts: D1Counts = { calls: 0, statements: 0, rowsRead: 0, rowsWritten: 0 };

	/** The binding with `prepare`, `batch` and every statement's executions counted. */
	wrap(database: D1Database): D1Database {
		const prepare = database.prepare.bind(database);
		const batch = database.batch.bind(database);
		Object.defineProperty(database, "prepare", { configurable: true, value: (query: string) => this.#counted(prepare(query)) });
		Object.defineProperty(database, "batch", {
			configurable: true,
			value: async <T>(statements: D1PreparedStatement[]) => {
				const results = await batch<T>(statements);
				this.#counts.calls += 1;
				this.#counts.statements += statements.length;
				for (const result of results) this.#addMeta(result);
				return results;
			},
		});
		return database;
	}

	take(): D1Counts {
		const counts = this.#counts;
		this.#counts = { calls: 0, statements: 0, rowsRead: 0, rowsWritten: 0 };
		return counts;
	}

	#counted(statement: D1PreparedStatement): D1PreparedStatement {
		const bind = statement.bind.bind(statement);
		Object.defineProperty(statement, "bind", { configurable: true, value: (...values: unknown[]) => this.#counted(bind(...values)) });
		for (const name of ["run", "all", "first", "raw"] satisfies Executes[]) {
			const execute = (statement[name] as (...args: unknown[]) => Promise<unknown>).bind(statement);
			Object.defineProperty(statement, name, {
				configurable: true,
				value: async (...args: unknown[]) => {
					const result = await execute(...args);
					this.#counts.calls += 1;
					this.#counts.statements += 1;
					this.#addMeta(result);
					return result;
				},
			});
		}
		return statement;
	}

	/** `raw` and `first` return no meta: their rows are not counted, only the statement. */
	#addMeta(result: unknown): void {
		const meta = (result as { meta?: { rows_read?: number; rows_written?: number } } | null)?.meta;
		this.#counts.rowsRead += meta?.rows_read ?? 0;
		this.#counts.rowsWritten += meta?.rows_written ?? 0;
	}
}
