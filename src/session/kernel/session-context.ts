/**
 * What every capability module works with: the object's storage through its write kernel,
 * and the adapters it talks to. The adapters sit in one mutable holder so fault-injection
 * tests can swap a binding for a wrapper of it (never for a fake).
 */
import type { BlobStore } from "../../blobs/blob-store";
import type { D1Projection } from "../../db/projection";
import type { WriteKernel } from "./write-kernel";

export interface Dependencies {
	blobs: BlobStore;
	projection: D1Projection;
}

/** Settings read from the environment once per object, not once per write. */
export interface SessionConfig {
	inlineLimitBytes: number;
}

export interface SessionContext {
	readonly kernel: WriteKernel;
	readonly sql: SqlStorage;
	readonly dependencies: Dependencies;
	readonly config: SessionConfig;
}
