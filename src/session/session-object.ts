/**
 * One Durable Object per (tenant, session): the single writer of that session. A thin shell:
 * each RPC method delegates to its capability module, every change commits through the write
 * kernel (kernel/write-kernel.ts), and the alarm runs the keyed timers. fetch() is left for
 * WebSockets; nothing is routed by URL in here.
 */
import { DurableObject } from "cloudflare:workers";
import { BlobStore } from "../blobs/blob-store";
import { D1Projection } from "../db/projection";
import type { CompactBody, ContextQuery, ForkBody, ListCheckpointsQuery, ListCompactionsQuery, RestoreBody } from "../schemas/context";
import type { AppendEventsBody, ListEventsQuery } from "../schemas/events";
import type { AcquireLeaseBody } from "../schemas/lease";
import type { Approval, CreateApprovalBody, DecisionBody } from "../schemas/approvals";
import type { ImportDocument } from "../schemas/portability";
import type { PauseBody, ResumeBody, UpdateSessionBody } from "../schemas/sessions";
import type { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody } from "../schemas/workflows";
import * as approvals from "./approvals/operations";
import type { ListStateQuery, PutStateBody } from "../schemas/state";
import type { ForkSnapshot, NewSession, SessionApi, WriteOptions } from "./api";
import { CAPABILITIES, isReferenced } from "./capabilities";
import * as compaction from "./compaction/operations";
import { configuredInlineLimit } from "./content/placement";
import { getContext } from "./context/operations";
import * as events from "./events/operations";
import * as history from "./history/operations";
import type { TimerHandler } from "./kernel/capability";
import { migrate } from "./kernel/migrations";
import type { Dependencies, SessionContext } from "./kernel/session-context";
import { WriteKernel } from "./kernel/write-kernel";
import { LiveFeed } from "./live/feed";
import * as lease from "./lease/operations";
import * as exporting from "./portability/export";
import * as importing from "./portability/import";
import * as lifecycle from "./sessions/lifecycle";
import * as pause from "./sessions/pause";
import * as state from "./state/operations";
import * as workflows from "./workflows/operations";

/** How long one long-poll call may hold the object's attention. */
const MAX_WAIT_MS = 30_000;

const TIMER_HANDLERS = new Map<string, TimerHandler>(CAPABILITIES.flatMap((capability) => Object.entries(capability.timers ?? {})));

export class SessionObject extends DurableObject<Env> implements SessionApi {
	/** The object's adapters to R2 and D1; fault-injection tests wrap their bindings here. */
	readonly dependencies: Dependencies;
	readonly #session: SessionContext;
	readonly #live: LiveFeed;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.dependencies = { blobs: new BlobStore(env.BLOBS), projection: new D1Projection(env.DB) };
		const kernel = new WriteKernel(ctx.storage, () => this.dependencies.blobs, (key) => isReferenced(ctx.storage.sql, key));
		this.#session = {
			kernel,
			sql: ctx.storage.sql,
			dependencies: this.dependencies,
			config: {
				inlineLimitBytes: configuredInlineLimit(env.INLINE_LIMIT_BYTES),
				allowLocalWebhooks: env.ALLOW_LOCAL_WEBHOOKS === "true",
				webhookSigningSecret: env.WEBHOOK_SIGNING_SECRET,
			},
		};
		this.#live = new LiveFeed(ctx, this.#session);
		void ctx.blockConcurrencyWhile(async () => {
			ctx.storage.transactionSync(() => migrate(ctx.storage.sql, CAPABILITIES));
			kernel.start(await ctx.storage.getAlarm(), (run) => {
				const handler = TIMER_HANDLERS.get(run.kind);
				if (!handler) throw new Error(`no handler for timer kind ${run.kind}`);
				return handler(this.#session, run);
			});
		});
	}

	createSession(input: NewSession, options: WriteOptions) {
		return lifecycle.createSession(this.#session, input, options);
	}

	describe() {
		return lifecycle.describe(this.#session);
	}

	updateSession(body: UpdateSessionBody, options: WriteOptions) {
		return lifecycle.updateSession(this.#session, body, options);
	}

	deleteSession(options: WriteOptions) {
		return lifecycle.deleteSession(this.#session, options);
	}

	appendEvents(body: AppendEventsBody, options: WriteOptions) {
		return events.appendEvents(this.#session, body, options);
	}

	listEvents(query: ListEventsQuery) {
		return events.listEvents(this.#session, query);
	}

	getState(ns: string, key: string) {
		return state.getState(this.#session, ns, key);
	}

	listState(ns: string, query: Omit<ListStateQuery, "includeContent">) {
		return state.listState(this.#session, ns, query);
	}

	putState(ns: string, key: string, body: PutStateBody, options: WriteOptions) {
		return state.putState(this.#session, ns, key, body, options);
	}

	deleteState(ns: string, key: string, ifVersion: number | undefined, options: WriteOptions) {
		return state.deleteState(this.#session, ns, key, ifVersion, options);
	}

	acquireLease(body: AcquireLeaseBody, options: WriteOptions) {
		return lease.acquireLease(this.#session, body, options);
	}

	releaseLease(token: number) {
		return lease.releaseLease(this.#session, token);
	}

	getContext(query: ContextQuery) {
		return getContext(this.#session, query);
	}

	compact(body: CompactBody, options: WriteOptions) {
		return compaction.compact(this.#session, body, options);
	}

	listCompactions(query: ListCompactionsQuery) {
		return compaction.listCompactions(this.#session, query);
	}

	createCheckpoint(name: string, options: WriteOptions) {
		return history.createCheckpoint(this.#session, name, options);
	}

	listCheckpoints(query: ListCheckpointsQuery) {
		return history.listCheckpoints(this.#session, query);
	}

	getCheckpoint(name: string) {
		return history.getCheckpoint(this.#session, name);
	}

	restore(body: RestoreBody, options: WriteOptions) {
		return history.restore(this.#session, body, options);
	}

	exportFork(point: Pick<ForkBody, "checkpoint" | "version">) {
		return history.exportFork(this.#session, point);
	}

	createFork(input: NewSession, snapshot: ForkSnapshot, options: WriteOptions) {
		return history.createFork(this.#session, input, snapshot, options);
	}

	exportSession() {
		return exporting.exportSession(this.#session);
	}

	importSession(tenant: string, id: string, document: ImportDocument, options: WriteOptions) {
		return importing.importSession(this.#session, tenant, id, document, options);
	}

	putWorkflow(name: string, body: PutWorkflowBody, options: WriteOptions) {
		return workflows.putWorkflow(this.#session, name, body, options);
	}

	getWorkflow(name: string) {
		return workflows.getWorkflow(this.#session, name);
	}

	listWorkflows() {
		return workflows.listWorkflows(this.#session);
	}

	startStep(name: string, step: string, body: StartStepBody, options: WriteOptions) {
		return workflows.startWorkflowStep(this.#session, name, step, body, options);
	}

	completeStep(name: string, step: string, body: CompleteStepBody, options: WriteOptions) {
		return workflows.completeWorkflowStep(this.#session, name, step, body, options);
	}

	failStep(name: string, step: string, body: FailStepBody, options: WriteOptions) {
		return workflows.failWorkflowStep(this.#session, name, step, body, options);
	}

	skipStep(name: string, step: string, body: SkipStepBody, options: WriteOptions) {
		return workflows.skipWorkflowStep(this.#session, name, step, body, options);
	}

	pause(body: PauseBody, options: WriteOptions) {
		return pause.pauseSession(this.#session, body, options);
	}

	resume(body: ResumeBody, options: WriteOptions) {
		return pause.resumeSession(this.#session, body, options);
	}

	createApproval(body: CreateApprovalBody, options: WriteOptions) {
		return approvals.createApproval(this.#session, body, options);
	}

	decideApproval(approvalId: string, body: DecisionBody, options: WriteOptions) {
		return approvals.decideApproval(this.#session, approvalId, body, options);
	}

	getApproval(approvalId: string) {
		return approvals.getApproval(this.#session, approvalId);
	}

	listApprovals(status: Approval["status"] | undefined) {
		return approvals.listApprovals(this.#session, status);
	}

	/** Long-poll: the events after `after`, waiting up to `timeoutMs` for the next commit if none. */
	nextEvents(after: number, limit: number, timeoutMs: number) {
		return this.#live.nextEvents(after, limit, Math.min(timeoutMs, MAX_WAIT_MS));
	}

	/**
	 * WebSockets only: `GET …/subscribe?after=N` (authorized by the Worker) becomes a
	 * hibernatable subscriber that is sent the events after N, then every commit.
	 */
	override async fetch(request: Request): Promise<Response> {
		if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
		const readable = this.#session.kernel.readable();
		if (!("id" in readable)) return Response.json({ error: { code: readable.code, message: readable.message } }, { status: readable.code === "session_deleted" ? 410 : 404 });
		const after = Number(new URL(request.url).searchParams.get("after") ?? "0");
		const [client, server] = Object.values(new WebSocketPair());
		this.ctx.waitUntil(this.#live.subscribe(server, Number.isSafeInteger(after) && after >= 0 ? after : 0));
		return new Response(null, { status: 101, webSocket: client });
	}

	/** Subscribers only listen; a message from one is answered with a pong, to keep it warm. */
	override async webSocketMessage(socket: WebSocket): Promise<void> {
		socket.send(JSON.stringify({ type: "pong" }));
	}

	override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
		try {
			// Reserved codes (1005, 1006, 1015) cannot be sent back: answer those with a normal close.
			socket.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, "closed");
		} catch {
			// Already closed.
		}
	}

	/** Runs the keyed timers that are due (kernel/timers.ts). */
	override async alarm(): Promise<void> {
		await this.#session.kernel.alarm();
	}
}
