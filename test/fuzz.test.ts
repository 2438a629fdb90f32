/**
 * Model-based fuzzing: random sequences of valid and invalid commands run against the Worker
 * and, step by step, against a small in-memory model of one session. After every step: no
 * 5xx, a refused request changed nothing, and the system agrees with the model. On failure
 * fast-check prints the seed and the shrunk command sequence.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { callJson, createSession, mintKey, newId } from "./helpers";

interface Model {
	version: number;
	events: unknown[];
	state: Map<string, { value: unknown; version: number }>;
	/** Idempotency key → the events it appended and the response it got. */
	idempotency: Map<string, { events: string; response: unknown }>;
}

interface Real {
	id: string;
	otherTenantKey: string;
}

type Command = fc.AsyncCommand<Model, Real>;

const FUZZ_RUNS = 150;
const KEYS = ["alpha", "beta", "g.a:m-m_a"];
const IDEMPOTENCY_KEYS = ["k1", "k2", "k3"];
const OVERSIZE = "x".repeat(5 * 1024 * 1024);

async function expectUnchanged(model: Model, real: Real) {
	const session = await callJson(`/v1/sessions/${real.id}`);
	expect(session.status).toBe(200);
	expect(session.body).toMatchObject({ version: model.version, eventCount: model.events.length, stateKeyCount: model.state.size });
}

function expectNot5xx(status: number) {
	expect(status, "never a 5xx").toBeLessThan(500);
}

const jsonValue = fc.oneof(
	fc.string({ unit: "binary", maxLength: 40 }),
	fc.integer(),
	fc.boolean(),
	fc.constant(null),
	fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer()), { maxKeys: 3 }),
	fc.array(fc.string({ unit: "grapheme", maxLength: 10 }), { maxLength: 4 }),
);

class Append implements Command {
	constructor(
		readonly contents: unknown[],
		readonly idempotencyKey: string | null,
	) {}
	check = () => true;
	async run(model: Model, real: Real) {
		const events = this.contents.map((content) => ({ type: "note", content }));
		const headers: Record<string, string> = this.idempotencyKey ? { "idempotency-key": this.idempotencyKey } : {};
		const response = await callJson(`/v1/sessions/${real.id}/events`, { method: "POST", body: { events }, headers });
		expectNot5xx(response.status);
		const remembered = this.idempotencyKey ? model.idempotency.get(this.idempotencyKey) : undefined;
		if (remembered && remembered.events !== JSON.stringify(events)) {
			expect(response.status).toBe(422);
		} else if (remembered) {
			expect(response.status).toBe(201);
			expect(response.body).toEqual(remembered.response);
		} else {
			expect(response.status).toBe(201);
			expect(response.body.firstSeq).toBe(model.events.length + 1);
			model.version++;
			model.events.push(...this.contents.map((content) => JSON.parse(JSON.stringify(content))));
			if (this.idempotencyKey) model.idempotency.set(this.idempotencyKey, { events: JSON.stringify(events), response: response.body });
		}
		await expectUnchanged(model, real);
	}
	toString = () => `Append(${JSON.stringify(this.contents)}, key=${this.idempotencyKey})`;
}

class PutState implements Command {
	constructor(
		readonly key: string,
		readonly value: unknown,
		readonly ifVersion: "current" | "none" | number,
		readonly expectedVersion: "current" | "none" | number,
	) {}
	check = () => true;
	async run(model: Model, real: Real) {
		const current = model.state.get(this.key)?.version ?? 0;
		const ifVersion = this.ifVersion === "current" ? current : this.ifVersion === "none" ? undefined : this.ifVersion;
		const expectedVersion = this.expectedVersion === "current" ? model.version : this.expectedVersion === "none" ? undefined : this.expectedVersion;
		const response = await callJson(`/v1/sessions/${real.id}/state/kv/${encodeURIComponent(this.key)}`, {
			method: "PUT",
			body: { value: this.value, ifVersion, expectedVersion },
		});
		expectNot5xx(response.status);
		const sessionConflict = expectedVersion !== undefined && expectedVersion !== model.version;
		const keyConflict = ifVersion !== undefined && ifVersion !== current;
		if (sessionConflict || keyConflict) {
			expect(response.status).toBe(409);
		} else {
			expect(response.status).toBe(200);
			model.version++;
			model.state.set(this.key, { value: JSON.parse(JSON.stringify(this.value)), version: model.version });
		}
		await expectUnchanged(model, real);
	}
	toString = () => `PutState(${this.key}, ${JSON.stringify(this.value)}, if=${this.ifVersion}, expected=${this.expectedVersion})`;
}

class DeleteState implements Command {
	constructor(readonly key: string) {}
	check = () => true;
	async run(model: Model, real: Real) {
		const response = await callJson(`/v1/sessions/${real.id}/state/kv/${encodeURIComponent(this.key)}`, { method: "DELETE" });
		expectNot5xx(response.status);
		if (model.state.has(this.key)) {
			expect(response.status).toBe(200);
			model.version++;
			model.state.delete(this.key);
		} else {
			expect(response.status).toBe(404);
		}
		await expectUnchanged(model, real);
	}
	toString = () => `DeleteState(${this.key})`;
}

class GetState implements Command {
	constructor(readonly key: string) {}
	check = () => true;
	async run(model: Model, real: Real) {
		const response = await callJson(`/v1/sessions/${real.id}/state/kv/${encodeURIComponent(this.key)}`);
		const expected = model.state.get(this.key);
		if (!expected) expect(response.status).toBe(404);
		else expect(response.body).toMatchObject({ value: expected.value, version: expected.version });
	}
	toString = () => `GetState(${this.key})`;
}

/** A request the API must refuse with a 4xx, changing nothing. */
class Refused implements Command {
	constructor(
		readonly label: string,
		readonly request: (real: Real, model: Model) => { path: string; method: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; key?: string },
	) {}
	check = () => true;
	async run(model: Model, real: Real) {
		const { path, ...options } = this.request(real, model);
		const response = await callJson(path, options);
		expectNot5xx(response.status);
		expect(response.status).toBeGreaterThanOrEqual(400);
		expect(response.body.error.code).toEqual(expect.any(String));
		await expectUnchanged(model, real);
	}
	toString = () => `Refused(${this.label})`;
}

const refusals: fc.Arbitrary<Command>[] = [
	fc.string({ unit: "binary", maxLength: 30 }).map(
		(raw) => new Refused(`raw body ${JSON.stringify(raw)}`, (real) => ({ path: `/v1/sessions/${real.id}/events`, method: "POST", rawBody: raw })),
	),
	fc.anything().filter((value) => !Array.isArray(value)).map(
		(events) => new Refused(`events=${JSON.stringify(events)}`, (real) => ({ path: `/v1/sessions/${real.id}/events`, method: "POST", body: { events } })),
	),
	fc.string({ maxLength: 12 }).filter((type) => !["message", "tool_call", "tool_result", "error", "decision", "note"].includes(type)).map(
		(type) => new Refused(`type=${type}`, (real) => ({ path: `/v1/sessions/${real.id}/events`, method: "POST", body: { events: [{ type, content: "x" }] } })),
	),
	fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.string()).map(
		(expectedVersion) =>
			new Refused(`expectedVersion=${String(expectedVersion)}`, (real) => ({
				path: `/v1/sessions/${real.id}/events`,
				method: "POST",
				body: { events: [{ type: "note", content: "x" }], expectedVersion },
			})),
	),
	fc.integer({ min: 1, max: 50 }).map(
		(offset) =>
			new Refused(`stale If-Match +${offset}`, (real, model) => ({
				path: `/v1/sessions/${real.id}/events`,
				method: "POST",
				body: { events: [{ type: "note", content: "x" }] },
				headers: { "if-match": `"${model.version + offset}"` },
			})),
	),
	fc.string({ unit: "binary", minLength: 1, maxLength: 20 }).filter((id) => !/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(id)).map(
		(id) => new Refused(`bad id ${JSON.stringify(id)}`, () => ({ path: `/v1/sessions/${encodeURIComponent(id)}/events`, method: "POST", body: { events: [{ type: "note", content: "x" }] } })),
	),
	fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((key) => !/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(key)).map(
		(key) => new Refused(`bad key ${JSON.stringify(key)}`, (real) => ({ path: `/v1/sessions/${real.id}/state/kv/${encodeURIComponent(key)}`, method: "PUT", body: { value: 1 } })),
	),
	fc.constant(new Refused("oversize body", (real) => ({ path: `/v1/sessions/${real.id}/events`, method: "POST", body: { events: [{ type: "note", content: OVERSIZE }] } }))),
	fc.constant(new Refused("huge metadata", (real) => ({ path: `/v1/sessions/${real.id}/events`, method: "POST", body: { events: [{ type: "note", content: "x", metadata: { m: "m".repeat(10_000) } }] } }))),
	fc.constantFrom("GET", "POST", "DELETE").map(
		(method) =>
			new Refused(`other tenant ${method}`, (real) => ({
				path: `/v1/sessions/${real.id}${method === "POST" ? "/events" : ""}`,
				method,
				body: method === "POST" ? { events: [{ type: "note", content: "intruder" }] } : undefined,
				key: real.otherTenantKey,
			})),
	),
];

const commands = fc.commands(
	[
		fc.tuple(fc.array(jsonValue, { minLength: 1, maxLength: 4 }), fc.option(fc.constantFrom(...IDEMPOTENCY_KEYS), { nil: null })).map(
			([contents, key]) => new Append(contents, key),
		),
		fc
			.tuple(
				fc.constantFrom(...KEYS),
				jsonValue,
				fc.oneof(fc.constant("current" as const), fc.constant("none" as const), fc.nat(20)),
				fc.oneof(fc.constant("none" as const), fc.constant("current" as const), fc.nat(20)),
			)
			.map(([key, value, ifVersion, expected]) => new PutState(key, value, ifVersion, expected)),
		fc.constantFrom(...KEYS).map((key) => new DeleteState(key)),
		fc.constantFrom(...KEYS).map((key) => new GetState(key)),
		...refusals,
	],
	{ maxCommands: 25 },
);

describe("model-based fuzzing of the API", () => {
	let otherTenantKey = "";
	beforeAll(async () => {
		otherTenantKey = await mintKey("admin", `fuzz-${crypto.randomUUID().slice(0, 8)}`);
	});

	it(`agrees with the model, never answers 5xx and refuses without side effects (${FUZZ_RUNS} runs)`, async () => {
		await fc.assert(
			fc.asyncProperty(commands, async (sequence) => {
				const id = await createSession({ id: newId("fuzz") });
				const model: Model = { version: 1, events: [], state: new Map(), idempotency: new Map() };
				await fc.asyncModelRun(() => ({ model, real: { id, otherTenantKey } }), sequence);
				const events = await callJson(`/v1/sessions/${id}/events?limit=1000`);
				expect(events.body.events.map((event: { content: unknown }) => event.content)).toEqual(model.events);
			}),
			{ numRuns: FUZZ_RUNS, verbose: 1 },
		);
	}, 300_000);
});
