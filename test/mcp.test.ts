import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, call, callJson, createSession, mintKey, newId } from "./helpers";

/** The official MCP client, over Streamable HTTP, against the Worker's /mcp endpoint. */
async function connect(key = ADMIN_KEY) {
	const transport = new StreamableHTTPClientTransport(new URL("http://edge-context.test/mcp"), {
		fetch: (url, init) => exports.default.fetch(new Request(url, init)),
		requestInit: { headers: { authorization: `Bearer ${key}` } },
	});
	const client = new Client({ name: "edge-context-test", version: "1.0.0" });
	await client.connect(transport);
	return client;
}

const textOf = (result: { content: unknown }) => (result.content as Array<{ text: string }>).map((part) => part.text).join("\n");

describe("MCP endpoint", () => {
	it("lists its tools and drives a session through them: create, append, state compare-and-set, context, checkpoint", async () => {
		const client = await connect();
		const tools = (await client.listTools()).tools.map((tool) => tool.name);
		expect(tools).toEqual(expect.arrayContaining(["create_session", "append_events", "get_context", "get_state", "set_state", "checkpoint", "restore", "workflow_next", "request_approval"]));

		const id = newId("mcp");
		expect(textOf(await client.callTool({ name: "create_session", arguments: { id, agent: "mcp-agent" } }))).toBe(`session ${id} created (version 1)`);
		const appended = await client.callTool({
			name: "append_events",
			arguments: { sessionId: id, idempotencyKey: "k1", events: [{ type: "message", role: "user", content: "find the bug" }, { type: "decision", content: "look at the cache" }] },
		});
		expect(textOf(appended)).toBe("appended seq 1–2 (version 2)");
		const retried = await client.callTool({ name: "append_events", arguments: { sessionId: id, idempotencyKey: "k1", events: [{ type: "message", role: "user", content: "find the bug" }, { type: "decision", content: "look at the cache" }] } });
		expect(textOf(retried)).toBe("appended seq 1–2 (version 2)");
		expect(textOf(await client.callTool({ name: "set_state", arguments: { sessionId: id, ns: "progress", key: "pages", value: 3, ifVersion: 0 } }))).toBe("progress/pages set (version 3)");
		const stale = await client.callTool({ name: "set_state", arguments: { sessionId: id, ns: "progress", key: "pages", value: 4, ifVersion: 0 } });
		expect(stale.isError).toBe(true);
		expect(textOf(stale)).toContain("version_conflict");
		expect(JSON.parse(textOf(await client.callTool({ name: "get_state", arguments: { sessionId: id, ns: "progress", key: "pages" } })))).toEqual({ value: 3, version: 3 });
		const window = textOf(await client.callTool({ name: "get_context", arguments: { sessionId: id, budget: 2000 } }));
		expect(window).toContain("#1 message/user: find the bug");
		expect(window).toContain("progress/pages: 3");
		expect(textOf(await client.callTool({ name: "checkpoint", arguments: { sessionId: id, name: "cp" } }))).toBe("checkpoint cp at version 3");
		expect((await callJson(`/v1/sessions/${id}`)).body.eventCount).toBe(2);
		await client.close();
	});

	it("answers invalid arguments with a tool error naming the field, never a 500", async () => {
		const client = await connect();
		const bad = await client.callTool({ name: "get_context", arguments: { sessionId: "has spaces", budget: -1 } });
		expect(bad.isError).toBe(true);
		expect(textOf(bad)).toMatch(/sessionId|budget/);
		const missing = await client.callTool({ name: "get_session", arguments: { sessionId: newId("nope") } });
		expect(missing.isError).toBe(true);
		expect(textOf(missing)).toContain("session_not_found");
		await client.close();
	});

	it("uses the API's keys and their tenancy and roles; a missing key is 401 with WWW-Authenticate", async () => {
		const unauthenticated = await call("/mcp", { method: "POST", key: null, body: { jsonrpc: "2.0", id: 1, method: "tools/list" } });
		expect(unauthenticated.status).toBe(401);
		expect(unauthenticated.headers.get("www-authenticate")).toContain("Bearer");

		const id = await createSession();
		const other = await connect(await mintKey("writer", "tenant-b"));
		const hidden = await other.callTool({ name: "get_session", arguments: { sessionId: id } });
		expect(textOf(hidden)).toContain("session_not_found");
		const reader = await connect(await mintKey("reader"));
		const refused = await reader.callTool({ name: "append_events", arguments: { sessionId: id, events: [{ type: "note", content: "x" }] } });
		expect(refused.isError).toBe(true);
		expect(textOf(refused)).toContain("operation_out_of_scope");
		expect(textOf(await reader.callTool({ name: "get_session", arguments: { sessionId: id } }))).toContain('"version":1');
		await other.close();
		await reader.close();
	});
});
