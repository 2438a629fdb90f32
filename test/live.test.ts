import { evictDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, call, callJson, createSession, sessionObject } from "./helpers";

async function append(id: string, ...contents: string[]) {
	const result = await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: { events: contents.map((content) => ({ type: "note", content })) } });
	expect(result.status).toBe(201);
}

/** Reads SSE frames from a response until `enough` says so; returns them parsed. */
async function readFrames(response: Response, enough: (frames: Array<{ id?: string; event: string; data: string }>) => boolean) {
	const reader = (response.body as ReadableStream<Uint8Array>).getReader();
	const decoder = new TextDecoder();
	let buffer = "";
	const frames: Array<{ id?: string; event: string; data: string }> = [];
	while (!enough(frames)) {
		const { value, done } = await reader.read();
		if (done) break;
		buffer += decoder.decode(value, { stream: true });
		let end = buffer.indexOf("\n\n");
		while (end >= 0) {
			const block = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			end = buffer.indexOf("\n\n");
			if (block.startsWith(":")) continue;
			const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
			frames.push({ id: fields.id, event: fields.event ?? "message", data: fields.data ?? "" });
		}
	}
	await reader.cancel();
	return frames;
}

const seqsOf = (frames: Array<{ event: string; data: string }>) => frames.filter((frame) => frame.event === "event").map((frame) => (JSON.parse(frame.data) as { seq: number }).seq);

async function subscribe(id: string, after = 0) {
	const response = await exports.default.fetch(
		new Request(`http://edge-context.test/v1/sessions/${id}/subscribe?after=${after}`, { headers: { upgrade: "websocket", authorization: `Bearer ${ADMIN_KEY}` } }),
	);
	expect(response.status).toBe(101);
	const socket = response.webSocket as WebSocket;
	socket.accept();
	const messages: Array<{ type: string; events?: Array<{ seq: number }> }> = [];
	socket.addEventListener("message", (event) => messages.push(JSON.parse(event.data as string)));
	const seqs = () => messages.flatMap((message) => message.events?.map((event) => event.seq) ?? []);
	const until = async (check: () => boolean) => {
		for (let round = 0; round < 100 && !check(); round++) await new Promise((resolve) => setTimeout(resolve, 20));
		expect(check()).toBe(true);
	};
	return { socket, messages, seqs, until };
}

describe("live event stream", () => {
	it("long-poll answers at once when events are there, else at the next commit", async () => {
		const id = await createSession();
		await append(id, "one", "two");
		const now = await callJson(`/v1/sessions/${id}/events?live=long-poll&offset=0`);
		expect(now.body.events.map((event: { seq: number }) => event.seq)).toEqual([1, 2]);
		expect(now.headers.get("stream-next-offset")).toBe("2");
		expect(now.headers.get("stream-up-to-date")).toBe("true");

		const waiting = callJson(`/v1/sessions/${id}/events?live=long-poll&offset=2`);
		await new Promise((resolve) => setTimeout(resolve, 100));
		await append(id, "three");
		const later = await waiting;
		expect(later.body).toMatchObject({ events: [{ seq: 3, content: "three" }], nextOffset: 3, timedOut: false });
	});

	it("streams SSE: the backlog, up-to-date, then commits; Last-Event-ID resumes exactly after it", async () => {
		const id = await createSession();
		await append(id, "a", "b");
		const response = await call(`/v1/sessions/${id}/events?live=sse`);
		expect(response.headers.get("content-type")).toBe("text/event-stream");
		const pending = readFrames(response, (frames) => seqsOf(frames).length >= 3);
		await new Promise((resolve) => setTimeout(resolve, 100));
		await append(id, "c");
		const frames = await pending;
		expect(frames.map((frame) => frame.event)).toEqual(["event", "event", "up-to-date", "event"]);
		expect(frames.filter((frame) => frame.id).map((frame) => frame.id)).toEqual(["1", "2", "3"]);

		await append(id, "d");
		const resumed = await call(`/v1/sessions/${id}/events?live=sse`, { headers: { "last-event-id": "2" } });
		expect(seqsOf(await readFrames(resumed, (got) => got.some((frame) => frame.event === "up-to-date")))).toEqual([3, 4]);
	});

	it("refuses a malformed offset or Last-Event-ID with 400", async () => {
		const id = await createSession();
		expect((await call(`/v1/sessions/${id}/events?live=sse`, { headers: { "last-event-id": "abc" } })).status).toBe(400);
		expect((await call(`/v1/sessions/${id}/events?live=long-poll&offset=-1`)).status).toBe(400);
		expect((await call(`/v1/sessions/${id}/events?live=tail`)).status).toBe(400);
		expect((await call(`/v1/sessions/${id}/subscribe`)).status).toBe(426);
	});

	it("feeds WebSocket subscribers every committed event in order, with no gap or duplicate across an eviction or a reconnect", async () => {
		const id = await createSession();
		await append(id, "before 1", "before 2");
		const first = await subscribe(id, 0);
		await first.until(() => first.messages.some((message) => message.type === "up-to-date"));
		expect(first.seqs()).toEqual([1, 2]);
		await append(id, "live 3");
		await callJson(`/v1/sessions/${id}/state/kv/x`, { method: "PUT", body: { value: 1 } });
		await first.until(() => first.seqs().length === 3 && first.messages.some((message) => message.type === "commit"));

		await evictDurableObject(sessionObject(id));
		await append(id, "after eviction 4", "after eviction 5");
		const second = await subscribe(id, 3);
		await second.until(() => second.seqs().length === 2);
		expect(second.seqs()).toEqual([4, 5]);
		const got = first.seqs();
		// The first subscriber either stayed connected through the eviction (hibernation) or was
		// closed by it; whatever it received is a gapless prefix without repeats.
		expect(got).toEqual(Array.from({ length: got.length }, (_, index) => index + 1));
		first.socket.close();
		second.socket.close();
	});

	it("closes WebSocket subscribers when their session is deleted", async () => {
		const id = await createSession();
		const subscriber = await subscribe(id, 0);
		await subscriber.until(() => subscriber.messages.some((message) => message.type === "up-to-date"));
		const closed = new Promise<number>((resolve) => subscriber.socket.addEventListener("close", (event) => resolve(event.code)));
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
		expect(await closed).toBe(1000);
	});
});
