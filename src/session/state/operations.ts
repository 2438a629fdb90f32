/** Reading and writing namespaced, versioned state keys (state.ts). */
import { type Failure, fail, ok, type Result } from "../../errors";
import type { ListStateQuery, PutStateBody, StateItem, StatePage, StateWriteResult } from "../../schemas/state";
import { placeValue } from "../content/placement";
import { countTokens } from "../content/tokens";
import type { SessionContext } from "../kernel/session-context";
import type { WriteOptions, WriteResult } from "../kernel/write-spec";
import { project } from "../projection/outbox";
import { bumpVersion, encodingOf, indexRow, inlineLimitOf, type SessionRow } from "../sessions/session-row";
import { deleteKey, digestLine, keyVersion, readKey, readNamespace, writeKey } from "./state";

export function getState(session: SessionContext, ns: string, key: string): Promise<Result<StateItem>> {
	return session.kernel.read(() => {
		const item = readKey(session.sql, ns, key);
		return item ? ok(item) : fail("not_found", `No state key ${ns}/${key}`, { ns, key });
	});
}

export function listState(session: SessionContext, ns: string, query: Omit<ListStateQuery, "includeContent">): Promise<Result<StatePage>> {
	return session.kernel.read(() => ok(readNamespace(session.sql, ns, query)));
}

/**
 * Sets a key. With `ifVersion` it is a compare-and-set on the key's version (0: the key
 * must not exist), checked inside the transaction; a mismatch is a 409 and changes nothing.
 */
export function putState(session: SessionContext, ns: string, key: string, body: PutStateBody, options: WriteOptions): Promise<WriteResult<StateWriteResult>> {
	const pinned = body.pinned ?? false;
	return session.kernel.write({
		operation: "put_state",
		input: { ns, key, value: body.value, ifVersion: body.ifVersion, pinned },
		options,
		prepare: async ({ row, uploads }) => {
			const current = row as SessionRow;
			const placed = await placeValue(body.value, inlineLimitOf(current, session.config.inlineLimitBytes), uploads);
			const tokens = await countTokens(digestLine(ns, key, placed.inline ?? placed.preview ?? ""), encodingOf(current));
			return { placed, tokens };
		},
		apply: ({ plan, now }) => {
			const current = keyVersion(session.sql, ns, key);
			if (body.ifVersion !== undefined && body.ifVersion !== current) return keyConflict(ns, key, body.ifVersion, current);
			const updated = bumpVersion(session.sql, { stateKeys: current === 0 ? 1 : 0 }, now);
			writeKey(session.sql, ns, key, { value: plan.placed, pinned, tokens: plan.tokens }, updated.version, now);
			project(session.sql, { kind: "write", session: indexRow(updated) }, now);
			return ok({ ns, key, version: updated.version, sessionVersion: updated.version, deleted: false });
		},
	});
}

/** Deletes a key, optionally only if it is still at `ifVersion`. */
export function deleteState(session: SessionContext, ns: string, key: string, ifVersion: number | undefined, options: WriteOptions): Promise<WriteResult<StateWriteResult>> {
	return session.kernel.write({
		operation: "delete_state",
		input: { ns, key, ifVersion },
		options,
		apply: ({ now }) => {
			const current = keyVersion(session.sql, ns, key);
			if (current === 0) return fail("not_found", `No state key ${ns}/${key}`, { ns, key });
			if (ifVersion !== undefined && ifVersion !== current) return keyConflict(ns, key, ifVersion, current);
			const updated = bumpVersion(session.sql, { stateKeys: -1 }, now);
			deleteKey(session.sql, ns, key, updated.version, now);
			project(session.sql, { kind: "write", session: indexRow(updated) }, now);
			return ok({ ns, key, version: updated.version, sessionVersion: updated.version, deleted: true });
		},
	});
}

function keyConflict(ns: string, key: string, expected: number, current: number): Failure {
	return fail("version_conflict", `State key ${ns}/${key} is at version ${current}, not ${expected}`, {
		scope: "key",
		ns,
		key,
		expectedVersion: expected,
		currentVersion: current,
	});
}
