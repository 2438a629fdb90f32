/**
 * The failures the kernel and the session object answer with when a call cannot be served as
 * asked: no such session, deleted, out of the caller's scope, a dependency down.
 */
import { BlobStoreUnavailable } from "../../blobs/blob-store";
import { type Failure, fail } from "../../errors";
import type { SessionRow } from "../sessions/session-row";

export function isFailure(value: unknown): value is Failure {
	return typeof value === "object" && value !== null && (value as { ok?: unknown }).ok === false && "code" in value;
}

export function sessionNotFound(): Failure {
	return fail("session_not_found", "Session not found");
}

export function sessionDeleted(row: SessionRow): Failure {
	return fail("session_deleted", "Session was deleted", { deletedAt: new Date(row.deleted_at ?? row.updated_at).toISOString() });
}

export function outOfScope(sessionId: string): Failure {
	return fail("session_out_of_scope", `This credential may not reach session ${sessionId}`, { sessionId });
}

export function dependencyFailure(error: unknown): Failure {
	if (error instanceof BlobStoreUnavailable) {
		return fail("dependency_unavailable", "Large content could not be stored in or read from R2; nothing was written, retry later");
	}
	throw error;
}

export function namespaceOutOfScope(ns: string): Failure {
	return fail("namespace_out_of_scope", `This credential may not use namespace ${ns}`, { ns });
}

/** Export, fork, restore and import move every namespace at once: a namespace-scoped credential cannot. */
export function wholeSessionNeeded(operation: string): Failure {
	return fail("namespace_out_of_scope", `A ${operation} covers every namespace; this credential is limited to some`, { operation });
}
