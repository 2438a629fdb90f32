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
	#paused = false;

	/** Runs what the bench itself does to the object (not an operation's cost) without counting it. */
	uncounted<T>(work: () => T): T {
		this.#paused = true;
		try {
			return work();
		} finally {
			this.#paused = false;
		}
	}

	/** Replaces `storage.sql` with the same object whose `exec` remembers its cursors. */
	install(storage: DurableObjectStorage): void {
		const sql = storage.sql;
		const exec = sql.exec.bind(sql);
		const cursors = this.#cursors;
		Object.defineProperty(sql, "exec", {
			configurable: true,
			value: (query: string, ...bindings: unknown[]) => {
				const cursor = exec(query, ...bindings);
				if (!this.#paused) cursors.push({ query, cursor });
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

/** Counts the statements a D1 binding runs and the rows D1 reports for them (`meta.rows_*`), per query text too. */
export class D1Counter {
	#calls = 0;
	#queries = new Map<string, QueryRows>();
	/** The query text of every statement prepared (or bound) through the wrapped binding. */
	#text = new WeakMap<D1PreparedStatement, string>();

	/** The binding with `prepare`, `batch` and every statement's executions counted. */
	wrap(database: D1Database): D1Database {
		const prepare = database.prepare.bind(database);
		const batch = database.batch.bind(database);
		Object.defineProperty(database, "prepare", { configurable: true, value: (query: string) => this.#counted(prepare(query), query) });
		Object.defineProperty(database, "batch", {
			configurable: true,
			value: async <T>(statements: D1PreparedStatement[]) => {
				const results = await batch<T>(statements);
				this.#calls += 1;
				results.forEach((result, index) => this.#add(this.#text.get(statements[index]) ?? "(unknown)", result));
				return results;
			},
		});
		return database;
	}

	take(): { totals: D1Counts; queries: QueryRows[] } {
		const queries = [...this.#queries.values()].sort((a, b) => b.rowsWritten - a.rowsWritten || b.rowsRead - a.rowsRead);
		const totals = { calls: this.#calls, statements: 0, rowsRead: 0, rowsWritten: 0 };
		for (const query of queries) {
			totals.statements += query.statements;
			totals.rowsRead += query.rowsRead;
			totals.rowsWritten += query.rowsWritten;
		}
		this.#calls = 0;
		this.#queries.clear();
		return { totals, queries };
	}

	#counted(statement: D1PreparedStatement, query: string): D1PreparedStatement {
		this.#text.set(statement, query);
		const bind = statement.bind.bind(statement);
		Object.defineProperty(statement, "bind", { configurable: true, value: (...values: unknown[]) => this.#counted(bind(...values), query) });
		for (const name of ["run", "all", "first", "raw"] satisfies Executes[]) {
			const execute = (statement[name] as (...args: unknown[]) => Promise<unknown>).bind(statement);
			Object.defineProperty(statement, name, {
				configurable: true,
				value: async (...args: unknown[]) => {
					const result = await execute(...args);
					this.#calls += 1;
					this.#add(query, result);
					return result;
				},
			});
		}
		return statement;
	}

	/** `raw` and `first` return no meta: their statement is counted, their rows are not. */
	#add(query: string, result: unknown): void {
		const meta = (result as { meta?: { rows_read?: number; rows_written?: number } } | null)?.meta;
		const text = query.replace(/\s+/g, " ").trim();
		const rows = this.#queries.get(text) ?? { query: text, statements: 0, rowsRead: 0, rowsWritten: 0 };
		rows.statements += 1;
		rows.rowsRead += meta?.rows_read ?? 0;
		rows.rowsWritten += meta?.rows_written ?? 0;
		this.#queries.set(text, rows);
	}
}
