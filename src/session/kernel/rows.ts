/** Inserting a row given as an object of its columns (rebuilds, imports, rewritten rows). */
export function insertRow(sql: SqlStorage, table: string, row: Record<string, SqlStorageValue>): void {
	const columns = Object.keys(row);
	sql.exec(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((column) => row[column]));
}
