/** Serving the context window. */
import type { Result } from "../../errors";
import type { ContextItem, ContextQuery, ContextWindow } from "../../schemas/context";
import type { SessionContext } from "../kernel/session-context";
import { buildWindow } from "./window";

/**
 * The context window for a token budget, now or as it was at version `at`. Reads only
 * stored token counts: the tokenizer is never loaded on this path.
 */
export function getContext(session: SessionContext, query: ContextQuery, layers: ContextItem[] = []): Promise<Result<ContextWindow>> {
	const scope = session.caller?.namespaces ?? null;
	return session.kernel.read(
		(row) => buildWindow(session.sql, session.dependencies.blobs, query, row.version, scope, layers),
		(window) => window.version,
	);
}
