import { describe, expect, it } from "vitest";
import { callJson, createSession } from "./helpers";
import {
	checkLinearizable,
	checkPerKey,
	type Operation,
	type RegisterInput,
	type RegisterOutput,
	registerModel,
} from "./linearizability/checker";

type RegisterOperation = Operation<RegisterInput, RegisterOutput> & { key: string };

function op(id: number, client: number, invokedAt: number, completedAt: number, input: RegisterInput, output: RegisterOutput): RegisterOperation {
	return { id, client, invokedAt, completedAt, input, output, key: "k" };
}

describe("the linearizability checker itself", () => {
	it("accepts a history whose overlapping operations can be ordered", () => {
		const history = [
			op(1, 1, 0, 10, { kind: "put", value: "a" }, { kind: "written", version: 2 }),
			// Overlaps the put: may see the old (missing) or the new value.
			op(2, 2, 5, 6, { kind: "get" }, { kind: "missing" }),
			op(3, 3, 7, 12, { kind: "get" }, { kind: "value", value: "a", version: 2 }),
			op(4, 1, 13, 14, { kind: "cas", value: "b", ifVersion: 2 }, { kind: "written", version: 3 }),
			op(5, 2, 13, 15, { kind: "cas", value: "c", ifVersion: 2 }, { kind: "conflict", currentVersion: 3 }),
		];
		expect(checkLinearizable(history, registerModel)).toEqual({ linearizable: true });
	});

	it("rejects a stale read after a write completed", () => {
		const history = [
			op(1, 1, 0, 1, { kind: "put", value: "a" }, { kind: "written", version: 2 }),
			op(2, 1, 2, 3, { kind: "put", value: "b" }, { kind: "written", version: 3 }),
			op(3, 2, 4, 5, { kind: "get" }, { kind: "value", value: "a", version: 2 }),
		];
		expect(checkLinearizable(history, registerModel).linearizable).toBe(false);
	});

	it("rejects two compare-and-sets that both won on the same version", () => {
		const history = [
			op(1, 1, 0, 1, { kind: "put", value: "x" }, { kind: "written", version: 5 }),
			op(2, 1, 2, 10, { kind: "cas", value: "a", ifVersion: 5 }, { kind: "written", version: 6 }),
			op(3, 2, 2, 10, { kind: "cas", value: "b", ifVersion: 5 }, { kind: "written", version: 7 }),
		];
		expect(checkLinearizable(history, registerModel).linearizable).toBe(false);
	});

	it("rejects a lost update that a later read exposes, across keys checked separately", () => {
		const history: RegisterOperation[] = [
			{ ...op(1, 1, 0, 1, { kind: "put", value: 1 }, { kind: "written", version: 2 }), key: "a" },
			{ ...op(2, 2, 0, 1, { kind: "put", value: 1 }, { kind: "written", version: 3 }), key: "b" },
			{ ...op(3, 1, 2, 3, { kind: "get" }, { kind: "missing" }), key: "b" },
		];
		const results = checkPerKey(history, (operation) => (operation as RegisterOperation).key, registerModel);
		expect(results.get("a")).toEqual({ linearizable: true });
		expect(results.get("b")?.linearizable).toBe(false);
	});
});

/** Runs random get/put/compare-and-set from concurrent clients and records the history. */
async function recordHistory(sessionId: string, options: { clients: number; operationsPerClient: number; keys: string[] }) {
	let clock = 0;
	let nextId = 0;
	const history: RegisterOperation[] = [];
	const lastSeen = new Map<string, number>();
	let seed = 12345;
	const random = () => {
		seed = (seed * 1103515245 + 12345) & 0x7fffffff;
		return seed / 0x7fffffff;
	};

	async function perform(client: number, key: string, input: RegisterInput): Promise<RegisterOutput> {
		const path = `/v1/sessions/${sessionId}/state/kv/${key}`;
		if (input.kind === "get") {
			const response = await callJson(path);
			if (response.status === 404) return { kind: "missing" };
			lastSeen.set(key, response.body.version);
			return { kind: "value", value: response.body.value, version: response.body.version };
		}
		const body = input.kind === "cas" ? { value: input.value, ifVersion: input.ifVersion } : { value: input.value };
		const response = await callJson(path, { method: "PUT", body });
		if (response.status === 200) {
			lastSeen.set(key, response.body.version);
			return { kind: "written", version: response.body.version };
		}
		if (response.status === 409) return { kind: "conflict", currentVersion: response.body.error.details.currentVersion };
		throw new Error(`client ${client}: unexpected ${response.status} ${JSON.stringify(response.body)}`);
	}

	async function client(index: number): Promise<void> {
		for (let step = 0; step < options.operationsPerClient; step++) {
			const key = options.keys[Math.floor(random() * options.keys.length)];
			const roll = random();
			const value = `c${index}-s${step}`;
			const input: RegisterInput =
				roll < 0.4
					? { kind: "get" }
					: roll < 0.6
						? { kind: "put", value }
						: // Mostly the version last seen (a real CAS chain), sometimes a stale or absent one.
							{ kind: "cas", value, ifVersion: random() < 0.85 ? (lastSeen.get(key) ?? 0) : Math.floor(random() * 5) };
			const invokedAt = ++clock;
			const output = await perform(index, key, input);
			history.push({ id: nextId++, client: index, invokedAt, completedAt: ++clock, input, output, key });
		}
	}

	await Promise.all(Array.from({ length: options.clients }, (_, index) => client(index)));
	return history;
}

describe("linearizable state", () => {
	it("records 2,400 concurrent get/put/compare-and-set operations on 4 keys and finds no violation", async () => {
		const id = await createSession();
		const history = await recordHistory(id, { clients: 16, operationsPerClient: 150, keys: ["a", "b", "c", "d"] });
		expect(history).toHaveLength(2400);
		const writes = history.filter((operation) => operation.output.kind === "written").length;
		const conflicts = history.filter((operation) => operation.output.kind === "conflict").length;
		expect(writes).toBeGreaterThan(300);
		expect(conflicts).toBeGreaterThan(50);
		const results = checkPerKey(history, (operation) => (operation as RegisterOperation).key, registerModel);
		expect([...results.values()].every((result) => result.linearizable)).toBe(true);
	}, 120_000);
});
