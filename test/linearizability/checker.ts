/**
 * A linearizability checker for concurrent histories: the Wing & Gong search with Lowe's
 * memoization, as used by Knossos and Porcupine. A history is linearizable iff its operations
 * can be put in one sequential order that respects real time (an operation that completed
 * before another was invoked comes first) and that the sequential model accepts.
 *
 * Times are any totally ordered numbers: a logical clock ticked by the single-threaded
 * client at every invocation and every response is exact for this purpose.
 */
export interface Operation<Input, Output> {
	id: number;
	client: number;
	invokedAt: number;
	completedAt: number;
	input: Input;
	output: Output;
}

export interface Model<State, Input, Output> {
	initial: State;
	/** The state after applying `input` with result `output`, or null if that result is impossible. */
	step(state: State, input: Input, output: Output): State | null;
	/** Equal states must have equal keys (memoization). */
	key(state: State): string;
}

export type CheckResult = { linearizable: true } | { linearizable: false; longestPrefix: number[] };

interface Entry {
	kind: "call" | "return";
	operation: number;
	time: number;
	match: Entry | null;
	previous: Entry | null;
	next: Entry | null;
}

function linkedEntries<Input, Output>(operations: Operation<Input, Output>[]): Entry {
	const entries: Entry[] = [];
	for (const [index, operation] of operations.entries()) {
		const call: Entry = { kind: "call", operation: index, time: operation.invokedAt, match: null, previous: null, next: null };
		const ret: Entry = { kind: "return", operation: index, time: operation.completedAt, match: null, previous: null, next: null };
		call.match = ret;
		entries.push(call, ret);
	}
	// At equal times calls go first: an operation invoked at the instant another returned may
	// be ordered either way, which is the permissive (and correct) reading of a tie.
	entries.sort((a, b) => a.time - b.time || (a.kind === b.kind ? 0 : a.kind === "call" ? -1 : 1));
	const head: Entry = { kind: "call", operation: -1, time: Number.NEGATIVE_INFINITY, match: null, previous: null, next: null };
	let last = head;
	for (const entry of entries) {
		last.next = entry;
		entry.previous = last;
		last = entry;
	}
	return head;
}

function lift(entry: Entry): void {
	const ret = entry.match as Entry;
	(entry.previous as Entry).next = entry.next;
	if (entry.next) entry.next.previous = entry.previous;
	(ret.previous as Entry).next = ret.next;
	if (ret.next) ret.next.previous = ret.previous;
}

function unlift(entry: Entry): void {
	const ret = entry.match as Entry;
	(ret.previous as Entry).next = ret;
	if (ret.next) ret.next.previous = ret;
	(entry.previous as Entry).next = entry;
	if (entry.next) entry.next.previous = entry;
}

/** Checks one object's history against its sequential model. */
export function checkLinearizable<State, Input, Output>(
	operations: Operation<Input, Output>[],
	model: Model<State, Input, Output>,
): CheckResult {
	for (const operation of operations) {
		if (operation.completedAt < operation.invokedAt) throw new Error(`operation ${operation.id} completes before it is invoked`);
	}
	const head = linkedEntries(operations);
	const linearized = new Uint8Array(Math.ceil(operations.length / 8));
	const seen = new Set<string>();
	const stack: Array<{ entry: Entry; state: State }> = [];
	let longest: number[] = [];
	let state = model.initial;
	let entry = head.next;

	while (head.next !== null) {
		if (entry === null) throw new Error("checker ran past the end of the history");
		if (entry.kind === "call") {
			const operation = operations[entry.operation];
			const next = model.step(state, operation.input, operation.output);
			if (next !== null) {
				linearized[entry.operation >> 3] |= 1 << (entry.operation & 7);
				const memo = `${model.key(next)}|${linearized.join(",")}`;
				if (!seen.has(memo)) {
					seen.add(memo);
					stack.push({ entry, state });
					state = next;
					lift(entry);
					entry = head.next;
					continue;
				}
				linearized[entry.operation >> 3] &= ~(1 << (entry.operation & 7));
			}
			entry = entry.next;
		} else {
			// An operation returned before any order could place it: undo the last choice.
			if (stack.length > longest.length) longest = stack.map((frame) => operations[frame.entry.operation].id);
			const frame = stack.pop();
			if (!frame) return { linearizable: false, longestPrefix: longest };
			state = frame.state;
			linearized[frame.entry.operation >> 3] &= ~(1 << (frame.entry.operation & 7));
			unlift(frame.entry);
			entry = frame.entry.next;
		}
	}
	return { linearizable: true };
}

/** Splits a history by object and checks each: linearizability is compositional (local). */
export function checkPerKey<State, Input, Output>(
	operations: Operation<Input, Output>[],
	keyOf: (operation: Operation<Input, Output>) => string,
	model: Model<State, Input, Output>,
): Map<string, CheckResult> {
	const results = new Map<string, CheckResult>();
	for (const [key, group] of Map.groupBy(operations, keyOf)) results.set(key, checkLinearizable(group, model));
	return results;
}

/** The versioned register behind a state key: value and version (0 while the key is absent). */
export type RegisterState = { exists: boolean; value: unknown; version: number };
export type RegisterInput = { kind: "get" } | { kind: "put"; value: unknown } | { kind: "cas"; value: unknown; ifVersion: number };
export type RegisterOutput =
	| { kind: "value"; value: unknown; version: number }
	| { kind: "missing" }
	| { kind: "written"; version: number }
	| { kind: "conflict"; currentVersion: number };

export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
	initial: { exists: false, value: undefined, version: 0 },
	key: (state) => (state.exists ? `${state.version}:${JSON.stringify(state.value)}` : "absent"),
	step(state, input, output) {
		switch (input.kind) {
			case "get":
				if (output.kind === "missing") return state.exists ? null : state;
				return output.kind === "value" &&
					state.exists &&
					output.version === state.version &&
					JSON.stringify(output.value) === JSON.stringify(state.value)
					? state
					: null;
			case "put":
				// Versions come from the session's counter: a write only has to move the key forward.
				return output.kind === "written" && output.version > state.version
					? { exists: true, value: input.value, version: output.version }
					: null;
			case "cas":
				if (output.kind === "conflict") return input.ifVersion !== state.version && output.currentVersion === state.version ? state : null;
				return output.kind === "written" && input.ifVersion === state.version && output.version > state.version
					? { exists: true, value: input.value, version: output.version }
					: null;
		}
	},
};
