/**
 * The MCP endpoint (`/mcp`): Streamable HTTP, stateless, from the official v2 SDK. Each
 * request builds a server bound to the authenticated principal; its tools call the same
 * operations and session objects as the REST routes, so tenancy, validation, idempotency and
 * the write kernel are the API's own. Outputs are compact text: every token a tool returns
 * lands in the calling agent's context.
 */
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { Principal } from "../app-env";
import { checkOperation, checkSession, callerOf } from "../auth/authorize";
import { ApiError, type Failure, type Result } from "../errors";
import type { Operation } from "../schemas/scopes";
import { sessionApi } from "../operations/session-api";
import { createSession } from "../operations/sessions";
import { JsonValue, SessionId, StateName } from "../schemas/common";
import { EventInput } from "../schemas/events";

type ToolResult = { content: Array<{ type: "text"; text: string }>; isError?: boolean };

function text(value: string): ToolResult {
	return { content: [{ type: "text", text: value }] };
}

/** An API failure as an MCP tool error: the code, the message, and field paths when there are any. */
function toolError(failure: Failure): ToolResult {
	const issues = (failure.details?.issues as Array<{ path: string; message: string }> | undefined)?.map((issue) => `${issue.path}: ${issue.message}`);
	return { content: [{ type: "text", text: `${failure.code}: ${failure.message}${issues?.length ? ` (${issues.join("; ")})` : ""}` }], isError: true };
}

function reply<T>(result: Result<T>, render: (value: T) => string): ToolResult {
	return result.ok ? text(render(result.value)) : toolError(result);
}

/** The REST routes' checks, for a tool: the operation, and the session when the tool names one. */
function refusal(principal: Principal, operation: Operation, args: unknown): ToolResult | null {
	const sessionId = (args as { sessionId?: unknown }).sessionId;
	try {
		checkOperation(principal, operation);
		if (typeof sessionId === "string") checkSession(principal, sessionId);
		return null;
	} catch (error) {
		if (error instanceof ApiError) return toolError({ ok: false, code: error.code, message: error.message });
		throw error;
	}
}

function buildServer(env: Env, principal: Principal): McpServer {
	const server = new McpServer({ name: "edge-context", version: "1.0.0" });
	const session = (id: string) => sessionApi(env, principal, id);
	const caller = callerOf(principal);
	const writing = <A>(tool: (args: A) => Promise<ToolResult>) => async (args: A) => refusal(principal, "write", args) ?? tool(args);
	const reading = <A>(tool: (args: A) => Promise<ToolResult>) => async (args: A) => refusal(principal, "read", args) ?? tool(args);

	server.registerTool(
		"create_session",
		{ description: "Create a session (a durable, versioned context for an agent). Returns its id.", inputSchema: z.object({ id: SessionId.optional(), agent: z.string().min(1).max(200).optional() }) },
		writing(async ({ id, agent }) => reply(await createSession(env, principal, { id, agent }, {}), (created) => `session ${created.id} created (version ${created.version})`)),
	);

	server.registerTool(
		"get_session",
		{ description: "A session's version, event count and context size.", inputSchema: z.object({ sessionId: SessionId }) },
		reading(async ({ sessionId }) =>
			reply(await session(sessionId).describe(caller), (found) =>
				JSON.stringify({ version: found.version, events: found.eventCount, lastSeq: found.lastSeq, contextTokens: found.tokens.context, paused: found.paused !== null }),
			)),
	);

	server.registerTool(
		"append_events",
		{
			description: "Append events (messages, tool calls and results, decisions, errors, notes) atomically. Pass an idempotencyKey so a retry never writes twice.",
			inputSchema: z.object({ sessionId: SessionId, events: z.array(EventInput).min(1).max(100), idempotencyKey: z.string().min(1).max(255).optional() }),
		},
		writing(async ({ sessionId, events, idempotencyKey }) =>
			reply(await session(sessionId).appendEvents(caller, { events }, { idempotencyKey }), (appended) => `appended seq ${appended.firstSeq}–${appended.lastSeq} (version ${appended.version})`)),
	);

	server.registerTool(
		"get_context",
		{ description: "The session's context window for a token budget: pinned items, open work, state digest, summary, recent events.", inputSchema: z.object({ sessionId: SessionId, budget: z.number().int().min(1).max(1_000_000) }) },
		reading(async ({ sessionId, budget }) =>
			reply(await session(sessionId).getContext(caller, { budget }), (window) =>
				window.items
					.map((item) => {
						const body = typeof item.content === "string" ? item.content : JSON.stringify(item.content ?? item.contentRef?.preview ?? "");
						return item.seq === undefined ? body : `#${item.seq} ${item.type}${item.role ? `/${item.role}` : ""}: ${body}`;
					})
					.join("\n"),
			)),
	);

	server.registerTool(
		"get_state",
		{ description: "Read a state key: its value and version (use the version for a compare-and-set).", inputSchema: z.object({ sessionId: SessionId, ns: StateName, key: StateName }) },
		reading(async ({ sessionId, ns, key }) => reply(await session(sessionId).getState(caller, ns, key), (item) => JSON.stringify({ value: item.value ?? item.valueRef?.preview, version: item.version }))),
	);

	server.registerTool(
		"set_state",
		{
			description: "Set a state key. With ifVersion it is a compare-and-set (0: the key must not exist); a stale version is refused.",
			inputSchema: z.object({ sessionId: SessionId, ns: StateName, key: StateName, value: JsonValue, ifVersion: z.number().int().min(0).optional() }),
		},
		writing(async ({ sessionId, ns, key, value, ifVersion }) =>
			reply(await session(sessionId).putState(caller, ns, key, { value, ifVersion }, {}), (written) => `${ns}/${key} set (version ${written.version})`)),
	);

	server.registerTool(
		"checkpoint",
		{ description: "Name the session's current version, to restore or fork from later.", inputSchema: z.object({ sessionId: SessionId, name: StateName }) },
		writing(async ({ sessionId, name }) => reply(await session(sessionId).createCheckpoint(caller, name, {}), (checkpoint) => `checkpoint ${checkpoint.name} at version ${checkpoint.version}`)),
	);

	server.registerTool(
		"restore",
		{ description: "Rewind the session's state and context to a checkpoint, as a new version (history is kept).", inputSchema: z.object({ sessionId: SessionId, checkpoint: StateName }) },
		writing(async ({ sessionId, checkpoint }) =>
			reply(await session(sessionId).restore(caller, { checkpoint }, {}), (restored) => `restored to version ${restored.restoredTo} (now version ${restored.version}, ${restored.rewoundEvents} events rewound)`)),
	);

	server.registerTool(
		"workflow_next",
		{ description: "The next incomplete step of a workflow, to resume where it stopped.", inputSchema: z.object({ sessionId: SessionId, workflow: StateName }) },
		reading(async ({ sessionId, workflow }) =>
			reply(await session(sessionId).getWorkflow(caller, workflow), (found) => (found.next ? `next: ${found.next.id} "${found.next.action}" (attempt ${found.next.attempt})` : `no step to run (workflow ${found.status})`))),
	);

	server.registerTool(
		"complete_step",
		{ description: "Mark a workflow step done, with its result.", inputSchema: z.object({ sessionId: SessionId, workflow: StateName, step: StateName, result: JsonValue.optional() }) },
		writing(async ({ sessionId, workflow, step, result }) =>
			reply(await session(sessionId).completeStep(caller, workflow, step, { result }, {}), (found) => (found.next ? `done; next: ${found.next.id}` : `done; workflow ${found.status}`))),
	);

	server.registerTool(
		"request_approval",
		{
			description: "Ask a person to approve something; it is escalated if nobody decides by the deadline.",
			inputSchema: z.object({ sessionId: SessionId, title: z.string().min(1).max(500), summary: z.string().min(1).max(8000), requestedBy: z.string().min(1).max(200), deadline: z.iso.datetime({ offset: true }).optional() }),
		},
		writing(async ({ sessionId, ...body }) => reply(await session(sessionId).createApproval(caller, body, {}), (approval) => `approval ${approval.id} pending`)),
	);

	return server;
}

/** Serves one MCP request for an authenticated principal. */
export function serveMcp(request: Request, env: Env, principal: Principal): Promise<Response> {
	return createMcpHandler(() => buildServer(env, principal)).fetch(request);
}
