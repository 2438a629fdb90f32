import { stream } from "@durable-streams/client";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, call, callJson, createSession } from "./helpers";

const options = (id: string) => ({
	url: `http://edge-context.test/v1/sessions/${id}/stream`,
	headers: { authorization: `Bearer ${ADMIN_KEY}` },
	fetch: (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init)),
});

async function append(id: string, ...contents: string[]) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: contents.map((content) => ({ type: "note", content })) } });
	expect(result.status).toBe(201);
}

describe("the Durable Streams read protocol, with its official client", () => {
	it("catches up from the start and resumes from the offset it was given", async () => {
		const id = await createSession();
		for (let batch = 0; batch < 3; batch++) await append(id, ...Array.from({ length: 50 }, (_, index) => `event ${batch * 50 + index + 1}`));
		const response = await stream<{ seq: number; content: string }>({ ...options(id), offset: "-1", live: false });
		const all = await response.json();
		expect(all.map((event) => event.seq)).toEqual(Array.from({ length: 150 }, (_, index) => index + 1));
		expect(response.offset).toBe("150");
		expect(response.upToDate).toBe(true);
		const rest = await (await stream<{ seq: number }>({ ...options(id), offset: "140", live: false })).json();
		expect(rest.map((event) => event.seq)).toEqual(Array.from({ length: 10 }, (_, index) => 141 + index));
	});

	it("tails a session with long-poll: events committed later arrive, in order, once", async () => {
		const id = await createSession();
		await append(id, "one");
		const response = await stream<{ seq: number; content: string }>({ ...options(id), offset: "-1", live: "long-poll" });
		const seen: number[] = [];
		let offset = "";
		const done = new Promise<void>((resolve) => {
			response.subscribeJson(async (batch) => {
				seen.push(...batch.items.map((event) => event.seq));
				offset = batch.offset;
				if (seen.length >= 3) resolve();
			});
		});
		await new Promise((resolve) => setTimeout(resolve, 100));
		await append(id, "two", "three");
		await done;
		response.cancel();
		expect(seen).toEqual([1, 2, 3]);
		expect(offset).toBe("3");
	});

	it("refuses a malformed offset", async () => {
		const id = await createSession();
		expect((await call(`/v1/sessions/${id}/stream?offset=abc`)).status).toBe(400);
		expect((await call(`/v1/sessions/${id}/stream?live=sse`)).status).toBe(400);
	});
});
