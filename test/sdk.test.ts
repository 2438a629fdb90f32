import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EdgeContextError, edgeContext } from "../sdk/src/index";
import { ADMIN_KEY, newId } from "./helpers";

/** The SDK against the real Worker, through a fetch that can drop a response after the server answered. */
function client(dropAfterDelivery: (request: Request) => boolean = () => false) {
	const seen: string[] = [];
	const ec = edgeContext({
		baseUrl: "http://edge-context.test",
		apiKey: ADMIN_KEY,
		backoffMs: 5,
		fetch: async (input, init) => {
			const request = new Request(input, init);
			seen.push(`${request.method} ${new URL(request.url).pathname} ${request.headers.get("idempotency-key") ?? "-"}`);
			const drop = dropAfterDelivery(request);
			const response = await exports.default.fetch(request);
			if (drop) throw new TypeError("network connection lost");
			return response;
		},
	});
	return { ec, seen };
}

describe("TypeScript SDK", () => {
	it("creates a session, appends, reads state and the window, checkpoints", async () => {
		const { ec } = client();
		const created = await ec.sessions.create({ id: newId("sdk"), agent: "sdk-test" });
		const s = ec.session(created.id);
		const appended = await s.events.append([{ type: "message", role: "user", content: "survey CRDTs" }]);
		expect(appended).toMatchObject({ firstSeq: 1, lastSeq: 1, version: 2 });
		await s.state.put("progress", "pages_analyzed", 30);
		expect(await s.state.get("progress", "pages_analyzed")).toMatchObject({ value: 30 });
		expect((await s.context({ budget: 1000 })).items.length).toBeGreaterThan(0);
		expect(await s.checkpoints.create("30pct")).toMatchObject({ name: "30pct" });
		expect((await s.events.list()).events.map((event) => event.seq)).toEqual([1]);
	});

	it("retries a write whose response was lost with the same Idempotency-Key, so it is written once", async () => {
		let dropped = 0;
		const { ec, seen } = client((request) => request.method === "POST" && request.url.endsWith("/events") && dropped++ === 0);
		const created = await ec.sessions.create({});
		const s = ec.session(created.id);
		const appended = await s.events.append([{ type: "note", content: "exactly once" }]);
		expect(appended.firstSeq).toBe(1);
		const attempts = seen.filter((line) => line.startsWith("POST") && line.includes("/events"));
		expect(attempts).toHaveLength(2);
		expect(new Set(attempts.map((line) => line.split(" ")[2])).size).toBe(1);
		expect((await s.describe()).eventCount).toBe(1);
	});

	it("updates state with compare-and-set, re-running the change on conflicts", async () => {
		const { ec } = client();
		const s = ec.session((await ec.sessions.create({})).id);
		await Promise.all(Array.from({ length: 8 }, () => s.state.update<number>("progress", "pages", (pages = 0) => pages + 1)));
		expect((await s.state.get("progress", "pages")).value).toBe(8);
	});

	it("surfaces refusals as typed errors with the API's code", async () => {
		const { ec } = client();
		const s = ec.session((await ec.sessions.create({})).id);
		const stale = await s.events.append([{ type: "note", content: "x" }], { expectedVersion: 99 }).catch((error: unknown) => error);
		expect(stale).toBeInstanceOf(EdgeContextError);
		expect(stale).toMatchObject({ status: 409, code: "version_conflict", isConflict: true });
		const missing = await ec.session(newId("nope")).describe().catch((error: unknown) => error);
		expect(missing).toMatchObject({ status: 404, code: "session_not_found" });
	});
});
