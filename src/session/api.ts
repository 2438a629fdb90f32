/**
 * The session object's RPC surface: everything the Worker (routes, the MCP endpoint, the
 * SDK's tests) may call, and nothing else. The class implements it; its internals are
 * #private or live in the capability modules, so no stub holder can reach them. Results are
 * plain JSON data; expected failures are data too (RPC would drop an error's code).
 */
import type { Caller } from "../auth/scopes";
import type { Result } from "../errors";
import type { SessionAuditPage, SessionAuditQuery } from "../schemas/audit";
import type { SessionErasure } from "../schemas/erasure";
import type { EraseRequest } from "./erasure/operations";
import type { LookupSample } from "./metrics/metrics";
import type {
	Checkpoint,
	CheckpointPage,
	CompactBody,
	CompactionPage,
	CompactResult,
	ContextItem,
	ContextQuery,
	ContextWindow,
	ForkBody,
	ListCheckpointsQuery,
	ListCompactionsQuery,
	RestoreBody,
	RestoreResult,
} from "../schemas/context";
import type { AppendEventsBody, AppendResult, EventPage, ListEventsQuery, RetractEventsBody, RetractResult } from "../schemas/events";
import type { Approval, CreateApprovalBody, DecisionBody } from "../schemas/approvals";
import type { AcquireLeaseBody, Lease } from "../schemas/lease";
import type { ImportDocument } from "../schemas/portability";
import type { DeletedSession, PauseBody, ResumeBody, Session, UpdateSessionBody } from "../schemas/sessions";
import type { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody, Workflow } from "../schemas/workflows";
import type { ListStateQuery, PutStateBody, StateItem, StatePage, StateWriteResult } from "../schemas/state";
import type { SessionSearchQuery, SessionSearchResult } from "../schemas/search";
import type { GraphListQuery, GraphPage, GraphPutBody, GraphTuple, GraphTupleQuery, GraphWriteResult, GraphWritesBody } from "../schemas/graph";
import type { ForkSnapshot } from "./history/fork";
import type { HandoffBody, HandoffPackage } from "../schemas/handoffs";
import type { MergeBody, MergeResult } from "../schemas/merge";
import type { Subagent, SubagentOutcome, SubmitResultBody } from "../schemas/subagents";
import type { HandoffArrival, HandoffDeparture } from "./handoffs/operations";
import type { HandoffIds } from "./handoffs/package";
import type { LineageEntry } from "./lineage/operations";
import type { LayerSlice } from "./context/layer";
import type { MergePoint, MergeSource } from "./merge/source";
import type { SubagentSeed } from "./subagents/child";
import type { WriteOptions, WriteResult } from "./kernel/write-spec";
import type { NewSession } from "./sessions/session-row";

export type {
	Caller,
	ForkSnapshot,
	HandoffArrival,
	HandoffDeparture,
	HandoffIds,
	LayerSlice,
	LineageEntry,
	MergePoint,
	MergeSource,
	NewSession,
	SubagentSeed,
	WriteOptions,
	WriteResult,
};

export interface SessionApi {
	createSession(caller: Caller, input: NewSession, options: WriteOptions): Promise<WriteResult<Session>>;
	describe(caller: Caller): Promise<Result<Session>>;
	updateSession(caller: Caller, body: UpdateSessionBody, options: WriteOptions): Promise<WriteResult<Session>>;
	deleteSession(caller: Caller, options: WriteOptions): Promise<Result<DeletedSession>>;

	appendEvents(caller: Caller, body: AppendEventsBody, options: WriteOptions): Promise<WriteResult<AppendResult>>;
	listEvents(caller: Caller, query: ListEventsQuery): Promise<Result<EventPage>>;
	retractEvents(caller: Caller, body: RetractEventsBody, options: WriteOptions): Promise<WriteResult<RetractResult>>;

	nextEvents(caller: Caller, after: number, limit: number, timeoutMs: number): Promise<Result<EventPage & { timedOut: boolean }>>;

	getState(caller: Caller, ns: string, key: string): Promise<Result<StateItem>>;
	listState(caller: Caller, ns: string, query: Omit<ListStateQuery, "includeContent">): Promise<Result<StatePage>>;
	putState(caller: Caller, ns: string, key: string, body: PutStateBody, options: WriteOptions): Promise<WriteResult<StateWriteResult>>;
	deleteState(caller: Caller, ns: string, key: string, ifVersion: number | undefined, options: WriteOptions): Promise<WriteResult<StateWriteResult>>;

	acquireLease(caller: Caller, body: AcquireLeaseBody, options: WriteOptions): Promise<WriteResult<Lease>>;
	releaseLease(caller: Caller, token: number): Promise<Result<{ released: true }>>;

	getContext(caller: Caller, query: ContextQuery, layers?: ContextItem[]): Promise<Result<ContextWindow>>;
	getLayerSlice(caller: Caller, layer: string, budget: number): Promise<Result<LayerSlice>>;
	layerLinks(caller: Caller): Promise<Result<Record<string, string>>>;
	compact(caller: Caller, body: CompactBody, options: WriteOptions): Promise<WriteResult<CompactResult>>;
	listCompactions(caller: Caller, query: ListCompactionsQuery): Promise<Result<CompactionPage>>;

	createCheckpoint(caller: Caller, name: string, options: WriteOptions): Promise<WriteResult<Checkpoint>>;
	listCheckpoints(caller: Caller, query: ListCheckpointsQuery): Promise<Result<CheckpointPage>>;
	getCheckpoint(caller: Caller, name: string): Promise<Result<Checkpoint & { state: StateItem[] }>>;
	restore(caller: Caller, body: RestoreBody, options: WriteOptions): Promise<WriteResult<RestoreResult>>;
	exportFork(caller: Caller, point: Pick<ForkBody, "checkpoint" | "version">): Promise<Result<ForkSnapshot>>;
	createFork(caller: Caller, input: NewSession, snapshot: ForkSnapshot, options: WriteOptions): Promise<WriteResult<Session>>;

	/** Merging a fork (merge/operations.ts): the target's merge point, the fork's changes since, the target's write. */
	mergePoint(caller: Caller, forkId: string): Promise<Result<MergePoint>>;
	exportMergeSource(caller: Caller, into: string, since: MergePoint): Promise<Result<MergeSource>>;
	mergeFork(caller: Caller, body: MergeBody, source: MergeSource, options: WriteOptions): Promise<WriteResult<MergeResult>>;

	exportSession(caller: Caller): Promise<Result<ReadableStream<Uint8Array>>>;
	importSession(caller: Caller, tenant: string, id: string, document: ImportDocument, options: WriteOptions): Promise<WriteResult<Session>>;

	putWorkflow(caller: Caller, name: string, body: PutWorkflowBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	getWorkflow(caller: Caller, name: string): Promise<Result<Workflow>>;
	listWorkflows(caller: Caller): Promise<Result<{ workflows: Workflow[] }>>;
	startStep(caller: Caller, name: string, step: string, body: StartStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	completeStep(caller: Caller, name: string, step: string, body: CompleteStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	failStep(caller: Caller, name: string, step: string, body: FailStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	skipStep(caller: Caller, name: string, step: string, body: SkipStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;

	pause(caller: Caller, body: PauseBody, options: WriteOptions): Promise<WriteResult<Session>>;
	resume(caller: Caller, body: ResumeBody, options: WriteOptions): Promise<WriteResult<Session>>;

	createApproval(caller: Caller, body: CreateApprovalBody, options: WriteOptions): Promise<WriteResult<Approval>>;
	decideApproval(caller: Caller, approvalId: string, body: DecisionBody, options: WriteOptions): Promise<WriteResult<Approval>>;
	getApproval(caller: Caller, approvalId: string): Promise<Result<Approval>>;
	listApprovals(caller: Caller, status: Approval["status"] | undefined): Promise<Result<{ approvals: Approval[] }>>;

	listAudit(caller: Caller, query: SessionAuditQuery): Promise<Result<SessionAuditPage>>;
	eraseForSubject(caller: Caller, request: EraseRequest): Promise<Result<SessionErasure>>;
	recordLookups(caller: Caller, samples: LookupSample[]): Promise<void>;

	exportHandoff(caller: Caller, body: HandoffBody, ids: HandoffIds): Promise<Result<{ package: HandoffPackage; subject: string | null }>>;
	receiveHandoff(caller: Caller, arrival: HandoffArrival, options: WriteOptions): Promise<WriteResult<Session>>;
	recordHandoffOut(caller: Caller, departure: HandoffDeparture, options: WriteOptions): Promise<WriteResult<{ version: number }>>;
	describeLineage(caller: Caller): Promise<Result<LineageEntry>>;

	createSubagent(caller: Caller, input: NewSession, seed: SubagentSeed, options: WriteOptions): Promise<WriteResult<Session>>;
	registerSubagent(caller: Caller, childId: string, options: WriteOptions): Promise<WriteResult<{ version: number }>>;
	submitResult(caller: Caller, body: SubmitResultBody, options: WriteOptions): Promise<WriteResult<Subagent>>;
	describeSubagent(caller: Caller): Promise<Result<Subagent>>;
	recordSubagentOutcome(caller: Caller, outcome: SubagentOutcome): Promise<WriteResult<{ version: number; recorded: boolean }>>;

	search(caller: Caller, query: SessionSearchQuery): Promise<Result<SessionSearchResult>>;

	/** The LangGraph checkpointer of the thread this session is (graph/operations.ts). */
	putGraphCheckpoint(caller: Caller, body: GraphPutBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>>;
	putGraphWrites(caller: Caller, body: GraphWritesBody, options: WriteOptions): Promise<WriteResult<GraphWriteResult>>;
	getGraphTuple(caller: Caller, query: GraphTupleQuery): Promise<Result<GraphTuple | null>>;
	listGraphCheckpoints(caller: Caller, query: GraphListQuery): Promise<Result<GraphPage>>;
	deleteGraphThread(caller: Caller, options: WriteOptions): Promise<WriteResult<{ deleted: number; version: number }>>;
}
