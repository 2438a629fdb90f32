/**
 * What the benchmark loads, identically on our Worker and on the floor: the floor's routes have
 * our shapes, so the same request (path, body) goes to both. Each scenario readies its own
 * fresh session first, which also wakes the object and, for ours, loads the tokenizer.
 */
import { call, type RequestSpec, type Target } from "./load";

export type ScenarioName = "append" | "read-tail" | "state-put" | "state-get";

export interface Scenario {
	name: ScenarioName;
	description: string;
	/** Readies `sessionId` on `target` and returns the request to repeat. */
	prepare(target: Target, sessionId: string): Promise<RequestSpec>;
}

/** A typical agent message: about 150 bytes, a few dozen tokens, far below the inline limit. */
const MESSAGE =
	"Read page 31 of 100: CRDTs converge without coordination; the survey compares state-based " +
	"and operation-based designs and the cost of each merge.";

const TAIL = 20;
const SEEDED_EVENTS = 200;

export function messages(count: number) {
	return { events: Array.from({ length: count }, () => ({ type: "message", role: "user", content: MESSAGE })) };
}

const stateBody = { value: { pagesAnalyzed: 31, lastUrl: "https://example.com/crdt/31", findings: 7 } };

async function createSession(target: Target, sessionId: string): Promise<void> {
	// The floor has no sessions to create: its objects exist once addressed.
	if (target.role === "ours") await call(target, "POST", "/v1/sessions", { id: sessionId });
}

function eventsPath(sessionId: string): string {
	return `/v1/sessions/${encodeURIComponent(sessionId)}/events`;
}

function statePath(sessionId: string): string {
	return `/v1/sessions/${encodeURIComponent(sessionId)}/state/progress/pages_analyzed`;
}

export const scenarios: Scenario[] = [
	{
		name: "append",
		description: "POST one message event: the session grows by one seq per request",
		async prepare(target, sessionId) {
			await createSession(target, sessionId);
			await call(target, "POST", eventsPath(sessionId), messages(1));
			return { method: "POST", path: eventsPath(sessionId), body: JSON.stringify(messages(1)) };
		},
	},
	{
		name: "read-tail",
		description: `GET the last ${TAIL} of ${SEEDED_EVENTS} events (after = lastSeq - ${TAIL}, limit = ${TAIL}), with content`,
		async prepare(target, sessionId) {
			await createSession(target, sessionId);
			await call(target, "POST", eventsPath(sessionId), messages(SEEDED_EVENTS));
			return { method: "GET", path: `${eventsPath(sessionId)}?after=${SEEDED_EVENTS - TAIL}&limit=${TAIL}` };
		},
	},
	{
		name: "state-put",
		description: "PUT one small JSON value to the same key (no ifVersion): an upsert per request",
		async prepare(target, sessionId) {
			await createSession(target, sessionId);
			await call(target, "PUT", statePath(sessionId), stateBody);
			return { method: "PUT", path: statePath(sessionId), body: JSON.stringify(stateBody) };
		},
	},
	{
		name: "state-get",
		description: "GET that key back with its version",
		async prepare(target, sessionId) {
			await createSession(target, sessionId);
			await call(target, "PUT", statePath(sessionId), stateBody);
			return { method: "GET", path: statePath(sessionId) };
		},
	},
];
