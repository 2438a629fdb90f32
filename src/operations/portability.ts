/**
 * Reading an export document (NDJSON) into what a session's object imports: every line
 * parsed and checked against the format, in order, with the `end` line's count confirming
 * nothing was cut off. Any flaw is a 400 naming the line; nothing is created.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail, ok, type Result } from "../errors";
import { ExportLine, type ImportDocument } from "../schemas/portability";
import type { Session } from "../schemas/sessions";
import type { WriteOptions, WriteResult } from "../session/api";
import { sessionApi } from "./session-api";
import { newSessionId } from "./session-ids";

function lineFailure(line: number, message: string) {
	return fail("validation_failed", `Import line ${line}: ${message}`, { issues: [{ path: `line ${line}`, message }] });
}

export function parseExport(text: string): Result<ImportDocument> {
	const lines = text.split("\n");
	if (lines.at(-1) === "") lines.pop();
	const document: ImportDocument = { sourceId: "", session: {}, rows: [], blobs: [] };
	let sawSession = false;
	for (const [index, raw] of lines.entries()) {
		const number = index + 1;
		let value: unknown;
		try {
			value = JSON.parse(raw);
		} catch {
			return lineFailure(number, "not JSON");
		}
		const parsed = ExportLine.safeParse(value);
		if (!parsed.success) return lineFailure(number, parsed.error.issues.map((issue) => `${issue.path.join(".") || "line"}: ${issue.message}`).join("; "));
		const line = parsed.data;
		if ((index === 0) !== (line.kind === "header")) return lineFailure(number, index === 0 ? "the first line must be the header" : "a second header");
		if (line.kind === "header") document.sourceId = line.sessionId;
		else if (line.kind === "session") {
			if (sawSession || index !== 1) return lineFailure(number, "the session line must come once, second");
			document.session = line.row;
			sawSession = true;
		} else if (line.kind === "blob") document.blobs.push({ sha256: line.sha256, content: line.content });
		else if (line.kind === "end") {
			if (index !== lines.length - 1) return lineFailure(number, "lines after the end line");
			if (line.lines !== lines.length) return lineFailure(number, `the end line counts ${line.lines} lines, the document has ${lines.length}`);
			return sawSession ? ok(document) : lineFailure(number, "no session line");
		} else document.rows.push({ kind: line.kind, row: line.row, ...(line.archived ? { archived: line.archived } : {}) });
	}
	return lineFailure(lines.length, "the document is truncated: it has no end line");
}

/** Imports a session export under a new id (generated when absent). */
export async function importSession(env: Env, principal: Principal, text: string, id: string | undefined, options: WriteOptions): Promise<WriteResult<Session>> {
	const document = parseExport(text);
	if (!document.ok) return document;
	const newId = id ?? (await newSessionId(options.idempotencyKey));
	const outOfScope = sessionScopeFailure(principal, newId);
	if (outOfScope) return outOfScope;
	return sessionApi(env, principal, newId).importSession(callerOf(principal), principal.tenant, newId, document.value, options);
}
