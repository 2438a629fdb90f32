import { describe, expect, it } from "vitest";
import { call, callJson, createSession } from "./helpers";

interface BadCase {
	name: string;
	path: (id: string) => string;
	method?: string;
	body?: unknown;
	rawBody?: string;
	headers?: Record<string, string>;
	status: number;
	code: string;
	/** A field path the error must name, for validation failures. */
	field?: string;
}

const note = { type: "note", content: "x" };

const cases: BadCase[] = [
	{ name: "malformed JSON", path: (id) => `/v1/sessions/${id}/events`, method: "POST", rawBody: '{"events": [', status: 400, code: "invalid_json" },
	{ name: "events not an array", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: "nope" }, status: 400, code: "validation_failed", field: "events" },
	{ name: "empty batch", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [] }, status: 400, code: "validation_failed", field: "events" },
	{ name: "batch over 500", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: Array(501).fill(note) }, status: 400, code: "validation_failed", field: "events" },
	{ name: "event without content", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note, { type: "note" }] }, status: 400, code: "validation_failed", field: "events.1.content" },
	{ name: "message without role", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [{ type: "message", content: "hi" }] }, status: 400, code: "validation_failed", field: "events.0.role" },
	{ name: "unknown event type", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [{ type: "gossip", content: "x" }] }, status: 400, code: "validation_failed", field: "events.0.type" },
	{ name: "unknown field", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [{ ...note, colour: "red" }] }, status: 400, code: "validation_failed" },
	{ name: "oversize metadata", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [{ ...note, metadata: { blob: "m".repeat(9000) } }] }, status: 400, code: "validation_failed", field: "events.0.metadata" },
	{ name: "negative expectedVersion", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note], expectedVersion: -1 }, status: 400, code: "validation_failed", field: "expectedVersion" },
	{ name: "fractional expectedVersion", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note], expectedVersion: 1.5 }, status: 400, code: "validation_failed", field: "expectedVersion" },
	{ name: "string expectedVersion", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note], expectedVersion: "1" }, status: 400, code: "validation_failed", field: "expectedVersion" },
	{ name: "non-numeric If-Match", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note] }, headers: { "if-match": "abc" }, status: 400, code: "validation_failed", field: "if-match" },
	{ name: "If-Match disagreeing with expectedVersion", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note], expectedVersion: 1 }, headers: { "if-match": "2" }, status: 400, code: "validation_failed" },
	{ name: "non-numeric Lease-Token", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note] }, headers: { "lease-token": "x" }, status: 400, code: "validation_failed", field: "lease-token" },
	{ name: "Idempotency-Key too long", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [note] }, headers: { "idempotency-key": "k".repeat(300) }, status: 400, code: "validation_failed", field: "idempotency-key" },
	{ name: "missing content type", path: (id) => `/v1/sessions/${id}/events`, method: "POST", rawBody: JSON.stringify({ events: [note] }), headers: { "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" },
	{ name: "body over the request limit", path: (id) => `/v1/sessions/${id}/events`, method: "POST", body: { events: [{ type: "note", content: "x".repeat(5 * 1024 * 1024) }] }, status: 413, code: "payload_too_large" },
	{ name: "bad id in path", path: () => `/v1/sessions/${encodeURIComponent("bad id")}/events`, method: "POST", body: { events: [note] }, status: 400, code: "validation_failed", field: "id" },
	{ name: "bad state key", path: (id) => `/v1/sessions/${id}/state/kv/${encodeURIComponent("no/slash")}`, method: "PUT", body: { value: 1 }, status: 400, code: "validation_failed", field: "key" },
	{ name: "state without value", path: (id) => `/v1/sessions/${id}/state/kv/a`, method: "PUT", body: {}, status: 400, code: "validation_failed", field: "value" },
	{ name: "negative ifVersion", path: (id) => `/v1/sessions/${id}/state/kv/a`, method: "PUT", body: { value: 1, ifVersion: -3 }, status: 400, code: "validation_failed", field: "ifVersion" },
	{ name: "non-numeric ifVersion on delete", path: (id) => `/v1/sessions/${id}/state/kv/a?ifVersion=abc`, method: "DELETE", status: 400, code: "validation_failed", field: "ifVersion" },
	{ name: "zero lease ttl", path: (id) => `/v1/sessions/${id}/lease`, method: "POST", body: { holder: "a", ttlSeconds: 0 }, status: 400, code: "validation_failed", field: "ttlSeconds" },
	{ name: "bad page limit", path: (id) => `/v1/sessions/${id}/events?limit=0`, status: 400, code: "validation_failed", field: "limit" },
	{ name: "non-numeric after", path: (id) => `/v1/sessions/${id}/events?after=abc`, status: 400, code: "validation_failed", field: "after" },
	{ name: "unknown type filter", path: (id) => `/v1/sessions/${id}/events?types=note,bogus`, status: 400, code: "validation_failed", field: "types.1" },
	{ name: "bad blob hash", path: (id) => `/v1/sessions/${id}/blobs/xyz`, status: 400, code: "validation_failed", field: "sha256" },
	{ name: "context without a budget", path: (id) => `/v1/sessions/${id}/context`, status: 400, code: "validation_failed", field: "budget" },
	{ name: "zero budget", path: (id) => `/v1/sessions/${id}/context?budget=0`, status: 400, code: "validation_failed", field: "budget" },
	{ name: "version zero for at", path: (id) => `/v1/sessions/${id}/context?budget=100&at=0`, status: 400, code: "validation_failed", field: "at" },
	{ name: "future version for at", path: (id) => `/v1/sessions/${id}/context?budget=100&at=99`, status: 400, code: "validation_failed", field: "at" },
	{ name: "restore with both checkpoint and version", path: (id) => `/v1/sessions/${id}/restore`, method: "POST", body: { checkpoint: "a", version: 1 }, status: 400, code: "validation_failed" },
	{ name: "restore to a future version", path: (id) => `/v1/sessions/${id}/restore`, method: "POST", body: { version: 50 }, status: 400, code: "validation_failed", field: "version" },
	{ name: "bad checkpoint name", path: (id) => `/v1/sessions/${id}/checkpoints`, method: "POST", body: { name: "has space" }, status: 400, code: "validation_failed", field: "name" },
	{ name: "compact upToSeq zero", path: (id) => `/v1/sessions/${id}/compact`, method: "POST", body: { upToSeq: 0 }, status: 400, code: "validation_failed", field: "upToSeq" },
	{ name: "policy with a share out of range", path: (id) => `/v1/sessions/${id}`, method: "PATCH", body: { policy: { compactAtShare: 2 } }, status: 400, code: "validation_failed", field: "policy.compactAtShare" },
	{ name: "fork onto its own id", path: (id) => `/v1/sessions/${id}/fork`, method: "POST", body: { id: "SAME" }, status: 400, code: "validation_failed" },
	{ name: "unknown route", path: (id) => `/v1/sessions/${id}/nothing-here`, status: 404, code: "not_found" },
];

describe("bad input gets a clear 4xx and changes nothing", () => {
	it.each(cases)("$name → $status $code", async (bad) => {
		const id = await createSession();
		const body = bad.body && typeof bad.body === "object" && "id" in bad.body && bad.body.id === "SAME" ? { ...bad.body, id } : bad.body;
		const response = await callJson(bad.path(id), { method: bad.method, body, rawBody: bad.rawBody, headers: bad.headers });
		expect(response.status).toBe(bad.status);
		expect(response.body.error.code).toBe(bad.code);
		expect(response.body.error.message).toEqual(expect.any(String));
		if (bad.field) {
			expect(response.body.error.details.issues.map((issue: { path: string }) => issue.path)).toContain(bad.field);
		}
		const after = await callJson(`/v1/sessions/${id}`);
		expect(after.body).toMatchObject({ version: 1, eventCount: 0, stateKeyCount: 0, lease: null, compactions: 0 });
	});

	it.each([
		["an id with spaces", { id: "has space" }],
		["an id that is too long", { id: "x".repeat(129) }],
		["a policy with an unknown field", { policy: { color: 1 } }],
		["an inline limit out of range", { policy: { inlineLimitBytes: 10 } }],
		["metadata that is not an object", { metadata: [1, 2] }],
	])("refuses to create a session with %s", async (_name, body) => {
		const response = await callJson("/v1/sessions", { method: "POST", body });
		expect(response.status).toBe(400);
		expect(response.body.error.code).toBe("validation_failed");
	});

	it("answers JSON 404 for unknown paths and never a stack trace", async () => {
		const response = await call("/v2/anything", { key: null });
		expect(response.status).toBe(404);
		const text = await response.text();
		expect(JSON.parse(text).error.code).toBe("not_found");
		expect(text).not.toContain("at ");
	});
});
