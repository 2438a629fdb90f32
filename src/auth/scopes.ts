/**
 * Scope matching, shared by the Worker (before any stub is called) and the session object
 * (which alone knows a session's subject and filters namespaces inside what it serves).
 */
import type { Operation, Scopes } from "../schemas/scopes";
import type { Role } from "../schemas/keys";

const SUBJECT_PREFIX = "subject=";

/** What the object is told of the caller with every call: scopes to enforce, names to audit. */
export interface Caller {
	/** `key:<id>`, `token:<id>` or `bootstrap`; `system` for the object's own timers. */
	principal: string;
	agent: string | null;
	requestId: string | null;
	sessions: string[];
	namespaces: string[] | null;
	/** When the credential stops being accepted (a token's expiry); null for keys. Live subscriptions end then. */
	expiresAt?: number | null;
}

/** How the Worker names the caller on the one request it forwards as HTTP (a WebSocket upgrade). */
export const CALLER_HEADER = "x-edge-context-caller";

/** The object's own background work: unscoped, audited as `system`. */
export const SYSTEM_CALLER: Caller = { principal: "system", agent: null, requestId: null, sessions: ["*"], namespaces: null };

export function operationsOf(role: Role): Operation[] {
	if (role === "admin") return ["read", "write", "admin"];
	return role === "writer" ? ["read", "write"] : ["read"];
}

function matchesPattern(pattern: string, value: string): boolean {
	return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : pattern === value;
}

function subjectsOf(patterns: readonly string[]): string[] {
	return patterns.filter((pattern) => pattern.startsWith(SUBJECT_PREFIX)).map((pattern) => pattern.slice(SUBJECT_PREFIX.length));
}

function idPatternsOf(patterns: readonly string[]): string[] {
	return patterns.filter((pattern) => !pattern.startsWith(SUBJECT_PREFIX));
}

/** Whether the patterns admit the session by its id alone. */
export function admitsId(patterns: readonly string[], id: string): boolean {
	return idPatternsOf(patterns).some((pattern) => matchesPattern(pattern, id));
}

/**
 * The Worker's check: the id is admitted, or a subject pattern may admit it (only the
 * object knows its subject, so it decides those).
 */
export function mayReach(patterns: readonly string[], id: string): boolean {
	return admitsId(patterns, id) || subjectsOf(patterns).length > 0;
}

/** The object's check, with the session's subject at hand. */
export function admitsSession(patterns: readonly string[], id: string, subject: string | null): boolean {
	return admitsId(patterns, id) || (subject !== null && subjectsOf(patterns).includes(subject));
}

export function admitsNamespace(namespaces: readonly string[] | null, ns: string): boolean {
	return namespaces === null || namespaces.some((pattern) => matchesPattern(pattern, ns));
}

/** For the D1 index: which ids, id prefixes and subjects the patterns admit (null: all). */
export function indexFilter(patterns: readonly string[]): { ids: string[]; prefixes: string[]; subjects: string[] } | null {
	if (patterns.includes("*")) return null;
	const ids = idPatternsOf(patterns);
	return {
		ids: ids.filter((pattern) => !pattern.endsWith("*")),
		prefixes: ids.filter((pattern) => pattern.endsWith("*")).map((pattern) => pattern.slice(0, -1)),
		subjects: subjectsOf(patterns),
	};
}

/** Whether one session pattern admits at least everything another does. */
function patternCovers(wide: string, narrow: string): boolean {
	if (wide === "*") return true;
	if (wide.startsWith(SUBJECT_PREFIX) || narrow.startsWith(SUBJECT_PREFIX)) return wide === narrow;
	if (narrow === "*") return false;
	if (!wide.endsWith("*")) return wide === narrow;
	const prefix = wide.slice(0, -1);
	return narrow.startsWith(prefix);
}

/**
 * What of `requested` the holder of `held` could not do itself: a minted token is never
 * wider than its minter. An empty list means it is covered.
 */
export function widening(held: Scopes, requested: Scopes): string[] {
	const problems: string[] = [];
	for (const operation of requested.operations) {
		if (!held.operations.includes(operation)) problems.push(`operation ${operation}`);
	}
	for (const pattern of requested.sessions) {
		if (!held.sessions.some((wide) => patternCovers(wide, pattern))) problems.push(`sessions ${pattern}`);
	}
	if (held.namespaces !== null) {
		if (requested.namespaces === null) problems.push("namespaces (all)");
		else for (const ns of requested.namespaces) if (!held.namespaces.some((wide) => patternCovers(wide, ns))) problems.push(`namespace ${ns}`);
	}
	if (requested.delegate && !held.delegate && !held.operations.includes("admin")) problems.push("delegate");
	return problems;
}
