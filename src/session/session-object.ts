/**
 * One Durable Object per (tenant, session): the single writer of that session. A thin shell:
 * each RPC method delegates to its capability module, every change commits through the write
 * kernel (kernel/write-kernel.ts), and the alarm runs the keyed timers. fetch() is left for
 * WebSockets; nothing is routed by URL in here.
 */
import { DurableObject } from "cloudflare:workers";
import { BlobStore } from "../blobs/blob-store";
import { ShardedIndex } from "../projector/shards";
import type { CompactBody, ContextItem, ContextQuery, ForkBody, ListCheckpointsQuery, ListCompactionsQuery, RestoreBody } from "../schemas/context";
import type { AppendEventsBody, ListEventsQuery, RetractEventsBody } from "../schemas/events";
import type { AcquireLeaseBody } from "../schemas/lease";
import type { Approval, CreateApprovalBody, DecisionBody } from "../schemas/approvals";
import type { ImportDocument } from "../schemas/portability";
import type { PauseBody, ResumeBody, UpdateSessionBody } from "../schemas/sessions";
import type { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody } from "../schemas/workflows";
import * as approvals from "./approvals/operations";
import * as audit from "./audit/operations";
import * as erasure from "./erasure/operations";
import * as metrics from "./metrics/metrics";
import type { SessionAuditQuery } from "../schemas/audit";
import type { ListStateQuery, PutStateBody } from "../schemas/state";
import type { SessionSearchQuery } from "../schemas/search";
import { searchSession } from "./search/search";
import * as graph from "./graph/operations";
import type { GraphListQuery, GraphPutBody, GraphTupleQuery, GraphWritesBody } from "../schemas/graph";
import { admitsNamespace, admitsSession, type Caller } from "../auth/scopes";
import type { Json } from "../schemas/common";
import type { ForkSnapshot, MergePoint, MergeSource, NewSession, SessionApi, WriteOptions } from "./api";
import { CAPABILITIES, isReferenced } from "./capabilities";
import * as compaction from "./compaction/operations";
import { configuredInlineLimit } from "./content/placement";
import { getContext } from "./context/operations";
import { layerLinks, layerSlice } from "./context/layer";
import * as events from "./events/operations";
import { retractEvents } from "./events/retract";
import * as history from "./history/operations";
import type { TimerHandler } from "./kernel/capability";
import { migrate } from "./kernel/migrations";
import type { Dependencies, SessionContext } from "./kernel/session-context";
import { namespaceOutOfScope, outOfScope, wholeSessionNeeded } from "./kernel/failures";
import { WriteKernel } from "./kernel/write-kernel";
import { closeBack, LiveFeed } from "./live/feed";
import * as lease from "./lease/operations";
import * as handoffs from "./handoffs/operations";
import type { HandoffIds } from "./handoffs/package";
import { describeLineage } from "./lineage/operations";
import * as subagentChild from "./subagents/child";
import * as subagentParent from "./subagents/parent";
import type { HandoffBody } from "../schemas/handoffs";
import type { SubagentOutcome, SubmitResultBody } from "../schemas/subagents";
import * as merging from "./merge/operations";
import type { MergeBody } from "../schemas/merge";
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
	/** The object's adapters to R2 and the index; fault-injection tests wrap their bindings here. */
	readonly dependencies: Dependencies;
	readonly #session: SessionContext;
	readonly #live: LiveFeed;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.dependencies = {
			blobs: new BlobStore(env.BLOBS),
			projection: new ShardedIndex(env),
			peer: (tenant, sessionId) => env.SESSION.getByName(`${tenant}/${sessionId}`),
		};
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

	createSession(caller: Caller, input: NewSession, options: WriteOptions) {
		if (!admitsSession(caller.sessions, input.id, input.subject ?? null)) return Promise.resolve(outOfScope(input.id));
		return lifecycle.createSession(this.#call(caller, "createSession", { id: input.id }), input, options);
	}

	describe(caller: Caller) {
		return lifecycle.describe(this.#call(caller, "describe", null));
	}

	updateSession(caller: Caller, body: UpdateSessionBody, options: WriteOptions) {
		const id = this.#session.kernel.session()?.id;
		// A new subject must stay within the caller's reach (else a write could move a session into another's).
		if (id !== undefined && body.subject !== undefined && !admitsSession(caller.sessions, id, body.subject)) return Promise.resolve(outOfScope(id));
		if (body.policy?.retention !== undefined && caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("retention policy"));
		// A layer brings all of its namespaces into the thread's windows.
		if (body.links !== undefined && caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("layer links"));
		return lifecycle.updateSession(this.#call(caller, "updateSession", { fields: Object.keys(body) }), body, options);
	}

	deleteSession(caller: Caller, options: WriteOptions) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("deletion"));
		return lifecycle.deleteSession(this.#call(caller, "deleteSession", null), options);
	}

	appendEvents(caller: Caller, body: AppendEventsBody, options: WriteOptions) {
		return events.appendEvents(this.#call(caller, "appendEvents", { events: body.events.length }), body, options);
	}

	retractEvents(caller: Caller, body: RetractEventsBody, options: WriteOptions) {
		return retractEvents(this.#call(caller, "retractEvents", { fromSeq: body.fromSeq, events: body.events?.length ?? 0 }), body, options);
	}

	listEvents(caller: Caller, query: ListEventsQuery) {
		return events.listEvents(this.#call(caller, "listEvents", { ...query }), query);
	}

	getState(caller: Caller, ns: string, key: string) {
		if (!admitsNamespace(caller.namespaces, ns)) return Promise.resolve(namespaceOutOfScope(ns));
		return state.getState(this.#call(caller, "getState", { ns, key }), ns, key);
	}

	listState(caller: Caller, ns: string, query: Omit<ListStateQuery, "includeContent">) {
		if (!admitsNamespace(caller.namespaces, ns)) return Promise.resolve(namespaceOutOfScope(ns));
		return state.listState(this.#call(caller, "listState", { ns, ...query }), ns, query);
	}

	putState(caller: Caller, ns: string, key: string, body: PutStateBody, options: WriteOptions) {
		if (!admitsNamespace(caller.namespaces, ns)) return Promise.resolve(namespaceOutOfScope(ns));
		return state.putState(this.#call(caller, "putState", { ns, key }), ns, key, body, options);
	}

	deleteState(caller: Caller, ns: string, key: string, ifVersion: number | undefined, options: WriteOptions) {
		if (!admitsNamespace(caller.namespaces, ns)) return Promise.resolve(namespaceOutOfScope(ns));
		return state.deleteState(this.#call(caller, "deleteState", { ns, key }), ns, key, ifVersion, options);
	}

	acquireLease(caller: Caller, body: AcquireLeaseBody, options: WriteOptions) {
		return lease.acquireLease(this.#call(caller, "acquireLease", null), body, options);
	}

	releaseLease(caller: Caller, token: number) {
		return lease.releaseLease(this.#call(caller, "releaseLease", null), token);
	}

	getContext(caller: Caller, query: ContextQuery, layers: ContextItem[] = []) {
		const layered = layers.length > 0 ? { layerItems: layers.length, layerTokens: layers.reduce((sum, item) => sum + item.tokens, 0) } : {};
		return getContext(this.#call(caller, "getContext", { ...query, ...layered, scopeNamespaces: caller.namespaces }), query, layers);
	}

	layerLinks(caller: Caller) {
		return layerLinks(this.#call(caller, "layerLinks", null));
	}

	/** This session as a layer of another's window (context/layer.ts). */
	getLayerSlice(caller: Caller, layer: string, budget: number) {
		return layerSlice(this.#call(caller, "getLayerSlice", { layer, budget, scopeNamespaces: caller.namespaces }), layer, budget);
	}

	compact(caller: Caller, body: CompactBody, options: WriteOptions) {
		return compaction.compact(this.#call(caller, "compact", { upToSeq: body.upToSeq ?? null }), body, options);
	}

	listCompactions(caller: Caller, query: ListCompactionsQuery) {
		return compaction.listCompactions(this.#call(caller, "listCompactions", { ...query }), query);
	}

	createCheckpoint(caller: Caller, name: string, options: WriteOptions) {
		return history.createCheckpoint(this.#call(caller, "createCheckpoint", { name }), name, options);
	}

	listCheckpoints(caller: Caller, query: ListCheckpointsQuery) {
		return history.listCheckpoints(this.#call(caller, "listCheckpoints", { ...query }), query);
	}

	getCheckpoint(caller: Caller, name: string) {
		return history.getCheckpoint(this.#call(caller, "getCheckpoint", { name }), name);
	}

	restore(caller: Caller, body: RestoreBody, options: WriteOptions) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("restore"));
		return history.restore(this.#call(caller, "restore", { checkpoint: body.checkpoint ?? null, version: body.version ?? null }), body, options);
	}

	exportFork(caller: Caller, point: Pick<ForkBody, "checkpoint" | "version">) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("fork"));
		return history.exportFork(this.#call(caller, "exportFork", { checkpoint: point.checkpoint ?? null, version: point.version ?? null }), point);
	}

	createFork(caller: Caller, input: NewSession, snapshot: ForkSnapshot, options: WriteOptions) {
		if (!admitsSession(caller.sessions, input.id, input.subject ?? null)) return Promise.resolve(outOfScope(input.id));
		return history.createFork(this.#call(caller, "createFork", { id: input.id, parentId: input.parentId ?? null }), input, snapshot, options);
	}

	mergePoint(caller: Caller, forkId: string) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("merge"));
		return merging.mergePoint(this.#call(caller, "mergePoint", { from: forkId }), forkId);
	}

	exportMergeSource(caller: Caller, into: string, since: MergePoint) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("merge"));
		return merging.mergeSource(this.#call(caller, "exportMergeSource", { into, sinceVersion: since.forkVersion }), into, since);
	}

	mergeFork(caller: Caller, body: MergeBody, source: MergeSource, options: WriteOptions) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("merge"));
		return merging.mergeFork(this.#call(caller, "mergeFork", { from: body.from, strategy: body.strategy ?? "report" }), body, source, options);
	}

	exportSession(caller: Caller) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("export"));
		return exporting.exportSession(this.#call(caller, "exportSession", null));
	}

	importSession(caller: Caller, tenant: string, id: string, document: ImportDocument, options: WriteOptions) {
		if (caller.namespaces !== null) return Promise.resolve(wholeSessionNeeded("import"));
		if (!admitsSession(caller.sessions, id, typeof document.session.subject === "string" ? document.session.subject : null)) return Promise.resolve(outOfScope(id));
		return importing.importSession(this.#call(caller, "importSession", { id }), tenant, id, document, options);
	}

	putWorkflow(caller: Caller, name: string, body: PutWorkflowBody, options: WriteOptions) {
		return workflows.putWorkflow(this.#call(caller, "putWorkflow", { workflow: name }), name, body, options);
	}

	getWorkflow(caller: Caller, name: string) {
		return workflows.getWorkflow(this.#call(caller, "getWorkflow", { workflow: name }), name);
	}

	listWorkflows(caller: Caller) {
		return workflows.listWorkflows(this.#call(caller, "listWorkflows", null));
	}

	startStep(caller: Caller, name: string, step: string, body: StartStepBody, options: WriteOptions) {
		return workflows.startWorkflowStep(this.#call(caller, "startStep", { workflow: name, step }), name, step, body, options);
	}

	completeStep(caller: Caller, name: string, step: string, body: CompleteStepBody, options: WriteOptions) {
		return workflows.completeWorkflowStep(this.#call(caller, "completeStep", { workflow: name, step }), name, step, body, options);
	}

	failStep(caller: Caller, name: string, step: string, body: FailStepBody, options: WriteOptions) {
		return workflows.failWorkflowStep(this.#call(caller, "failStep", { workflow: name, step }), name, step, body, options);
	}

	skipStep(caller: Caller, name: string, step: string, body: SkipStepBody, options: WriteOptions) {
		return workflows.skipWorkflowStep(this.#call(caller, "skipStep", { workflow: name, step }), name, step, body, options);
	}

	pause(caller: Caller, body: PauseBody, options: WriteOptions) {
		return pause.pauseSession(this.#call(caller, "pause", null), body, options);
	}

	resume(caller: Caller, body: ResumeBody, options: WriteOptions) {
		return pause.resumeSession(this.#call(caller, "resume", null), body, options);
	}

	createApproval(caller: Caller, body: CreateApprovalBody, options: WriteOptions) {
		return approvals.createApproval(this.#call(caller, "createApproval", null), body, options);
	}

	decideApproval(caller: Caller, approvalId: string, body: DecisionBody, options: WriteOptions) {
		return approvals.decideApproval(this.#call(caller, "decideApproval", { approvalId }), approvalId, body, options);
	}

	getApproval(caller: Caller, approvalId: string) {
		return approvals.getApproval(this.#call(caller, "getApproval", { approvalId }), approvalId);
	}

	listApprovals(caller: Caller, status: Approval["status"] | undefined) {
		return approvals.listApprovals(this.#call(caller, "listApprovals", { status: status ?? null }), status);
	}

	listAudit(caller: Caller, query: SessionAuditQuery) {
		return audit.listAudit(this.#call(caller, "listAudit", { ...query }), query);
	}

	/** The session's part of an erasure by subject (erasure/operations.ts); the coordinator repeats it until erased. */
	eraseForSubject(caller: Caller, request: erasure.EraseRequest) {
		return erasure.eraseForSubject(this.#call(caller, "eraseForSubject", { erasureId: request.erasureId, mode: request.mode }), request);
	}

	/** Latency samples the Worker timed (operations/lookups.ts): figures, not session content. */
	async recordLookups(_caller: Caller, samples: metrics.LookupSample[]): Promise<void> {
		const kernel = this.#session.kernel;
		if (kernel.session()?.status !== "active") return;
		kernel.transaction(() => metrics.recordLookups(this.#session.sql, samples, Date.now()));
		await kernel.armAlarm();
	}

	exportHandoff(caller: Caller, body: HandoffBody, ids: HandoffIds) {
		const outside = body.include.stateNamespaces?.find((ns) => !admitsNamespace(caller.namespaces, ns));
		if (outside !== undefined) return Promise.resolve(namespaceOutOfScope(outside));
		return handoffs.exportHandoff(this.#call(caller, "exportHandoff", { handoffId: ids.handoffId, to: ids.targetId }), body, ids);
	}

	receiveHandoff(caller: Caller, arrival: handoffs.HandoffArrival, options: WriteOptions) {
		return handoffs.receiveHandoff(this.#call(caller, "receiveHandoff", { handoffId: arrival.package.handoffId, from: arrival.package.from.sessionId }), arrival, options);
	}

	recordHandoffOut(caller: Caller, departure: handoffs.HandoffDeparture, options: WriteOptions) {
		return handoffs.recordHandoffOut(this.#call(caller, "recordHandoffOut", { handoffId: departure.handoffId, to: departure.to.sessionId }), departure, options);
	}

	describeLineage(caller: Caller) {
		return describeLineage(this.#call(caller, "describeLineage", null));
	}

	createSubagent(caller: Caller, input: NewSession, seed: subagentChild.SubagentSeed, options: WriteOptions) {
		if (!admitsSession(caller.sessions, input.id, input.subject ?? null)) return Promise.resolve(outOfScope(input.id));
		return subagentChild.createChild(this.#call(caller, "createSubagent", { id: input.id, parentId: seed.parentId }), input, seed, options);
	}

	registerSubagent(caller: Caller, childId: string, options: WriteOptions) {
		return subagentParent.registerSubagent(this.#call(caller, "registerSubagent", { childId }), childId, options);
	}

	submitResult(caller: Caller, body: SubmitResultBody, options: WriteOptions) {
		return subagentChild.submitResult(this.#call(caller, "submitResult", null), body, options);
	}

	describeSubagent(caller: Caller) {
		return subagentChild.describeSubagent(this.#call(caller, "describeSubagent", null));
	}

	recordSubagentOutcome(caller: Caller, outcome: SubagentOutcome) {
		return subagentParent.recordSubagentOutcome(this.#call(caller, "recordSubagentOutcome", { childId: outcome.childId, status: outcome.status }), outcome);
	}

	search(caller: Caller, query: SessionSearchQuery) {
		return searchSession(this.#call(caller, "search", { types: query.types ?? null, limit: query.limit }), query);
	}

	putGraphCheckpoint(caller: Caller, body: GraphPutBody, options: WriteOptions) {
		return graph.putCheckpoint(this.#call(caller, "putGraphCheckpoint", { checkpointNs: body.checkpointNs, checkpointId: body.checkpointId, blobs: body.blobs.length }), body, options);
	}

	putGraphWrites(caller: Caller, body: GraphWritesBody, options: WriteOptions) {
		return graph.putWrites(this.#call(caller, "putGraphWrites", { checkpointNs: body.checkpointNs, checkpointId: body.checkpointId, taskId: body.taskId, writes: body.writes.length }), body, options);
	}

	getGraphTuple(caller: Caller, query: GraphTupleQuery) {
		return graph.getTuple(this.#call(caller, "getGraphTuple", { ...query }), query);
	}

	listGraphCheckpoints(caller: Caller, query: GraphListQuery) {
		return graph.listCheckpoints(this.#call(caller, "listGraphCheckpoints", { checkpointNs: query.checkpointNs ?? null, before: query.before ?? null, limit: query.limit, filter: query.filter ?? null }), query);
	}

	deleteGraphThread(caller: Caller, options: WriteOptions) {
		return graph.deleteThread(this.#call(caller, "deleteGraphThread", null), options);
	}

	/** Long-poll: the events after `after`, waiting up to `timeoutMs` for the next commit if none. */
	nextEvents(caller: Caller, after: number, limit: number, timeoutMs: number) {
		return this.#live.nextEvents(this.#call(caller, "nextEvents", { after, limit }), after, limit, Math.min(timeoutMs, MAX_WAIT_MS));
	}

	/** The session context one RPC call works in: its kernel view enforces and audits the caller. */
	#call(caller: Caller, operation: string, what: Json): SessionContext {
		return { ...this.#session, kernel: this.#session.kernel.as({ caller, operation, what }), caller };
	}

	/** WebSockets only: `GET …/subscribe?after=N` (authorized by the Worker) becomes a live subscriber (live/feed.ts). */
	override async fetch(request: Request): Promise<Response> {
		return this.#live.accept(request, (caller, what) => this.#call(caller, "subscribe", what));
	}

	/** Subscribers only listen; a message from one is answered with a pong, to keep it warm. */
	override async webSocketMessage(socket: WebSocket): Promise<void> {
		socket.send(JSON.stringify({ type: "pong" }));
	}

	override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
		closeBack(socket, code);
	}

	/** Runs the keyed timers that are due (kernel/timers.ts). */
	override async alarm(): Promise<void> {
		await this.#session.kernel.alarm();
	}
}
