import { describe, expect, it } from "vitest";
import { SYSTEM_CALLER } from "../src/auth/scopes";
import { createSession, sessionObject } from "./helpers";

describe("the session object's RPC boundary", () => {
	it("serves the methods of its SessionApi", async () => {
		const id = await createSession();
		const described = await sessionObject(id).describe(SYSTEM_CALLER);
		expect(described).toMatchObject({ ok: true, value: { id, version: 1 } });
	});

	it("does not let a stub holder reach its internals: adapters, the kernel, timers", async () => {
		const id = await createSession();
		const stub = sessionObject(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
		for (const name of ["dependencies", "session", "kernel", "runDueTimers", "transaction", "write", "readable"]) {
			await expect(Promise.resolve().then(() => stub[name]()), name).rejects.toThrow();
		}
		await expect(Promise.resolve().then(() => stub.dependencies as unknown), "property read").rejects.toThrow();
	});
});
