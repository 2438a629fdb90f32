/**
 * What every capability module works with: the object's storage through its write kernel,
 * and the adapters it talks to. The adapters sit in one mutable holder so fault-injection
 * tests can swap a binding for a wrapper of it (never for a fake).
 */
import type { BlobStore } from "../../blobs/blob-store";
import type { Caller } from "../../auth/scopes";
import type { IndexWriter } from "../../db/projection";
import type { WriteKernel } from "./write-kernel";
import type { SessionObject } from "../session-object";

export interface Dependencies {
	blobs: BlobStore;
	/** The D1 index, through the tenant's shard projector (projector/shards.ts). */
	projection: IndexWriter;
	/** Another session's object of the same tenant, by id: a subagent reports to its parent through it. */
	peer: (tenant: string, sessionId: string) => DurableObjectStub<SessionObject>;
}

/** Settings read from the environment once per object, not once per write. */
export interface SessionConfig {
	inlineLimitBytes: number;
	/** Whether webhooks may go to http://localhost (development only). */
	allowLocalWebhooks: boolean;
	/** The deployment's secret that per-tenant webhook signing keys are derived from. */
	webhookSigningSecret: string | undefined;
}

export interface SessionContext {
	readonly kernel: WriteKernel;
	/** Who the current RPC call serves; absent for the object's own timers. */
	readonly caller?: Caller;
	readonly sql: SqlStorage;
	readonly dependencies: Dependencies;
	readonly config: SessionConfig;
}
