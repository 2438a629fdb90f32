/**
 * The session object's RPC surface: everything the Worker (routes, the MCP endpoint, the
 * SDK's tests) may call, and nothing else. The class implements it; its internals are
 * #private or live in the capability modules, so no stub holder can reach them. Results are
 * plain JSON data; expected failures are data too (RPC would drop an error's code).
 */
import type { Result } from "../errors";
import type {
	Checkpoint,
	CheckpointPage,
	CompactBody,
	CompactionPage,
	CompactResult,
	ContextQuery,
	ContextWindow,
	ForkBody,
	ListCheckpointsQuery,
	ListCompactionsQuery,
	RestoreBody,
	RestoreResult,
} from "../schemas/context";
import type { AppendEventsBody, AppendResult, EventPage, ListEventsQuery } from "../schemas/events";
import type { Approval, CreateApprovalBody, DecisionBody } from "../schemas/approvals";
import type { AcquireLeaseBody, Lease } from "../schemas/lease";
import type { ImportDocument } from "../schemas/portability";
import type { DeletedSession, PauseBody, ResumeBody, Session, UpdateSessionBody } from "../schemas/sessions";
import type { CompleteStepBody, FailStepBody, PutWorkflowBody, SkipStepBody, StartStepBody, Workflow } from "../schemas/workflows";
import type { ListStateQuery, PutStateBody, StateItem, StatePage, StateWriteResult } from "../schemas/state";
import type { ForkSnapshot } from "./history/fork";
import type { WriteOptions, WriteResult } from "./kernel/write-kernel";
import type { NewSession } from "./sessions/session-row";

export type { ForkSnapshot, NewSession, WriteOptions, WriteResult };

export interface SessionApi {
	createSession(input: NewSession, options: WriteOptions): Promise<WriteResult<Session>>;
	describe(): Promise<Result<Session>>;
	updateSession(body: UpdateSessionBody, options: WriteOptions): Promise<WriteResult<Session>>;
	deleteSession(options: WriteOptions): Promise<Result<DeletedSession>>;

	appendEvents(body: AppendEventsBody, options: WriteOptions): Promise<WriteResult<AppendResult>>;
	listEvents(query: ListEventsQuery): Promise<Result<EventPage>>;

	nextEvents(after: number, limit: number, timeoutMs: number): Promise<Result<EventPage & { timedOut: boolean }>>;

	getState(ns: string, key: string): Promise<Result<StateItem>>;
	listState(ns: string, query: Omit<ListStateQuery, "includeContent">): Promise<Result<StatePage>>;
	putState(ns: string, key: string, body: PutStateBody, options: WriteOptions): Promise<WriteResult<StateWriteResult>>;
	deleteState(ns: string, key: string, ifVersion: number | undefined, options: WriteOptions): Promise<WriteResult<StateWriteResult>>;

	acquireLease(body: AcquireLeaseBody, options: WriteOptions): Promise<WriteResult<Lease>>;
	releaseLease(token: number): Promise<Result<{ released: true }>>;

	getContext(query: ContextQuery): Promise<Result<ContextWindow>>;
	compact(body: CompactBody, options: WriteOptions): Promise<WriteResult<CompactResult>>;
	listCompactions(query: ListCompactionsQuery): Promise<Result<CompactionPage>>;

	createCheckpoint(name: string, options: WriteOptions): Promise<WriteResult<Checkpoint>>;
	listCheckpoints(query: ListCheckpointsQuery): Promise<Result<CheckpointPage>>;
	getCheckpoint(name: string): Promise<Result<Checkpoint & { state: StateItem[] }>>;
	restore(body: RestoreBody, options: WriteOptions): Promise<WriteResult<RestoreResult>>;
	exportFork(point: Pick<ForkBody, "checkpoint" | "version">): Promise<Result<ForkSnapshot>>;
	createFork(input: NewSession, snapshot: ForkSnapshot, options: WriteOptions): Promise<WriteResult<Session>>;

	exportSession(): Promise<Result<ReadableStream<Uint8Array>>>;
	importSession(tenant: string, id: string, document: ImportDocument, options: WriteOptions): Promise<WriteResult<Session>>;

	putWorkflow(name: string, body: PutWorkflowBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	getWorkflow(name: string): Promise<Result<Workflow>>;
	listWorkflows(): Promise<Result<{ workflows: Workflow[] }>>;
	startStep(name: string, step: string, body: StartStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	completeStep(name: string, step: string, body: CompleteStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	failStep(name: string, step: string, body: FailStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;
	skipStep(name: string, step: string, body: SkipStepBody, options: WriteOptions): Promise<WriteResult<Workflow>>;

	pause(body: PauseBody, options: WriteOptions): Promise<WriteResult<Session>>;
	resume(body: ResumeBody, options: WriteOptions): Promise<WriteResult<Session>>;

	createApproval(body: CreateApprovalBody, options: WriteOptions): Promise<WriteResult<Approval>>;
	decideApproval(approvalId: string, body: DecisionBody, options: WriteOptions): Promise<WriteResult<Approval>>;
	getApproval(approvalId: string): Promise<Result<Approval>>;
	listApprovals(status: Approval["status"] | undefined): Promise<Result<{ approvals: Approval[] }>>;
}
