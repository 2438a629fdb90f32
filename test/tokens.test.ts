import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { appendBody, callJson, createSession, mintKey, newId, runJobsUntilIdle } from "./helpers";

async function mintToken(body: Record<string, unknown>, key?: string) {
	return callJson("/v1/tokens", { method: "POST", body, key });
}

async function token(scopes: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
	const minted = await mintToken({ scopes, ...extra });
	if (minted.status !== 201) throw new Error(`mint failed: ${minted.status} ${JSON.stringify(minted.body)}`);
	return minted.body.token as string;
}

/** Signs claims the way the service does, with one of the test run's signing keys. */
function signed(claims: Record<string, unknown>, options: { kid?: string; secret?: string; exp?: number } = {}): Promise<string> {
	const secret = options.secret ?? "test-token-signing-secret-one-0123456789";
	return new SignJWT({ ten: env.ADMIN_TENANT, scp: { operations: ["read"], sessions: ["*"], namespaces: null, delegate: false }, ...claims })
		.setProtectedHeader({ alg: "HS256", kid: options.kid ?? "t1" })
		.setIssuer("edge-context")
		.setJti(`tok_${crypto.randomUUID().slice(0, 8)}`)
		.setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 600)
		.sign(new TextEncoder().encode(secret));
}

describe("scoped tokens", () => {
	it("confines a token scoped to support:* to those sessions: marketing:1 is 403, for reads, writes and creates", async () => {
		const support = await createSession({ id: newId("support:") });
		const marketing = await createSession({ id: newId("marketing:") });
		const scoped = await token({ operations: ["read", "write"], sessions: ["support:*"] });
		expect((await callJson(`/v1/sessions/${support}`, { key: scoped })).status).toBe(200);
		const refused = await callJson(`/v1/sessions/${marketing}/state/customer/email`, { key: scoped });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("session_out_of_scope");
		expect((await callJson(`/v1/sessions/${marketing}/events`, { method: "POST", key: scoped, body: appendBody(1) })).body.error.code).toBe("session_out_of_scope");
		expect((await callJson("/v1/sessions", { method: "POST", key: scoped, body: { id: newId("marketing:") } })).body.error.code).toBe("session_out_of_scope");
		expect((await callJson("/v1/sessions", { method: "POST", key: scoped, body: { id: newId("support:") } })).status).toBe(201);
	});

	it("keeps a namespace the token lacks out of reads, writes and the context window", async () => {
		const id = await createSession();
		await callJson(`/v1/sessions/${id}/state/customer/email`, { method: "PUT", body: { value: "ada@example.com" } });
		await callJson(`/v1/sessions/${id}/state/customer/plan`, { method: "PUT", body: { value: "gold", pinned: true } });
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", body: { value: "refund the order" } });
		await callJson(`/v1/sessions/${id}/state/task/owner`, { method: "PUT", body: { value: "agent-7", pinned: true } });
		const scoped = await token({ operations: ["read", "write"], namespaces: ["task"] });

		const window = await callJson(`/v1/sessions/${id}/context?budget=4000`, { key: scoped });
		expect(window.status).toBe(200);
		const text = JSON.stringify(window.body.items);
		expect(text).toContain("refund the order");
		expect(text).toContain("agent-7");
		expect(text).not.toContain("ada@example.com");
		expect(text).not.toContain("gold");
		const full = JSON.stringify((await callJson(`/v1/sessions/${id}/context?budget=4000`)).body.items);
		expect(full).toContain("ada@example.com");

		for (const [path, method] of [
			[`/v1/sessions/${id}/state/customer/email`, "GET"],
			[`/v1/sessions/${id}/state/customer`, "GET"],
			[`/v1/sessions/${id}/state/customer/email`, "PUT"],
		] as const) {
			const refused = await callJson(path, { method, key: scoped, body: method === "PUT" ? { value: 1 } : undefined });
			expect(refused.status, `${method} ${path}`).toBe(403);
			expect(refused.body.error.code).toBe("namespace_out_of_scope");
		}
		expect((await callJson(`/v1/sessions/${id}/export`, { key: scoped })).status).toBe(403);
		expect((await callJson(`/v1/sessions/${id}/state/task/goal`, { key: scoped })).body.value).toBe("refund the order");
	});

	it("admits sessions by subject inside the object, where the subject is known", async () => {
		const mine = await createSession({ body: { subject: "user:42" } });
		const other = await createSession({ body: { subject: "user:7" } });
		const scoped = await token({ operations: ["read", "write"], sessions: ["subject=user:42"] });
		expect((await callJson(`/v1/sessions/${mine}/context?budget=500`, { key: scoped })).status).toBe(200);
		const refused = await callJson(`/v1/sessions/${other}/events`, { method: "POST", key: scoped, body: { events: [{ type: "note", content: "x" }] } });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("session_out_of_scope");
		expect((await callJson(`/v1/sessions/${other}`, { key: scoped })).status).toBe(403);
		await runJobsUntilIdle(mine);
		await runJobsUntilIdle(other);
		const listed = await callJson("/v1/sessions?limit=200", { key: scoped });
		const ids = listed.body.sessions.map((session: { id: string }) => session.id);
		expect(ids).toContain(mine);
		expect(ids).not.toContain(other);
	});

	it("refuses expired, badly signed, unknown-key and revoked tokens with codes that say which", async () => {
		const id = await createSession();
		const expired = await signed({}, { exp: Math.floor(Date.now() / 1000) - 10 });
		const forged = await signed({}, { secret: "not-the-signing-secret-but-long-enough-000" });
		const unknownKey = await signed({}, { kid: "t0" });
		for (const [credential, code] of [
			[expired, "token_expired"],
			[forged, "token_invalid"],
			[unknownKey, "token_invalid"],
			[`${expired.slice(0, -4)}AAAA`, "token_invalid"],
		] as const) {
			const refused = await callJson(`/v1/sessions/${id}`, { key: credential });
			expect(refused.status).toBe(401);
			expect(refused.body.error.code).toBe(code);
		}
		// Signed with the older key of a rotation: still accepted.
		expect((await callJson(`/v1/sessions/${id}`, { key: await signed({}) })).status).toBe(200);

		const minted = await mintToken({ scopes: { operations: ["read"] }, ttlSeconds: 600 });
		expect((await callJson(`/v1/sessions/${id}`, { key: minted.body.token })).status).toBe(200);
		const revoked = await callJson(`/v1/tokens/${minted.body.id}`, { method: "DELETE" });
		expect(revoked.status).toBe(200);
		expect(revoked.body.effectiveWithinSeconds).toBe(30);
		const after = await callJson(`/v1/sessions/${id}`, { key: minted.body.token });
		expect(after.status).toBe(401);
		expect(after.body.error.code).toBe("token_revoked");
	});

	it("never mints a token wider than its minter, and only for admins and delegates", async () => {
		const writer = await mintKey("writer");
		const refused = await mintToken({ scopes: { operations: ["read"] } }, writer);
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("operation_out_of_scope");

		const delegate = await token({ operations: ["read", "write"], sessions: ["support:*"], namespaces: ["task"], delegate: true }, { ttlSeconds: 600, agent: "planner" });
		const narrower = await mintToken({ scopes: { operations: ["read"], sessions: ["support:eu:*"], namespaces: ["task"] }, ttlSeconds: 300 }, delegate);
		expect(narrower.status).toBe(201);
		expect(narrower.body.agent).toBe("planner");
		for (const [body, what] of [
			[{ scopes: { operations: ["read", "admin"], sessions: ["support:*"], namespaces: ["task"] } }, "operation admin"],
			[{ scopes: { operations: ["read"], sessions: ["*"], namespaces: ["task"] } }, "sessions *"],
			[{ scopes: { operations: ["read"], sessions: ["support:*"] } }, "namespaces (all)"],
			[{ scopes: { operations: ["read"], sessions: ["support:*"], namespaces: ["task"] }, ttlSeconds: 3600 }, "expiry (beyond the minter's own)"],
			[{ scopes: { operations: ["read"], sessions: ["support:*"], namespaces: ["task"] }, agent: "other" }, "agent (the minter acts as planner)"],
		] as const) {
			const wider = await mintToken(body, delegate);
			expect(wider.status, what).toBe(403);
			expect(wider.body.error.code).toBe("scope_widening");
			expect(wider.body.error.details.widening).toContain(what);
		}
	});

	it("answers bad token requests with 400 and mints nothing", async () => {
		for (const body of [
			{ scopes: { operations: [] } },
			{ scopes: { operations: ["read"], sessions: ["bad pattern"] } },
			{ scopes: { operations: ["read"] }, ttlSeconds: 10 },
			{ scopes: { operations: ["fly"] } },
		]) {
			const refused = await mintToken(body);
			expect(refused.status, JSON.stringify(body)).toBe(400);
			expect(refused.body.error.code).toBe("validation_failed");
		}
	});

	it("stamps the token's agent on the audit record of every write it makes", async () => {
		const id = await createSession();
		const scoped = await token({ operations: ["read", "write"] }, { agent: "billing-agent" });
		await callJson(`/v1/sessions/${id}/state/task/goal`, { method: "PUT", key: scoped, body: { value: "x" } });
		const trail = await callJson(`/v1/sessions/${id}/audit`);
		const write = trail.body.records.find((record: { operation: string }) => record.operation === "putState");
		expect(write).toMatchObject({ agent: "billing-agent", principal: expect.stringMatching(/^token:tok_/), what: { ns: "task", key: "goal" } });
	});

	it("lets no token mint a key, and revokes every token minted from a revoked one", async () => {
		const admin = await token({ operations: ["read", "write", "admin"] }, { ttlSeconds: 600 });
		const refused = await callJson("/v1/admin/keys", { method: "POST", key: admin, body: { role: "admin" } });
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe("operation_out_of_scope");

		const id = await createSession();
		const parent = await mintToken({ scopes: { operations: ["read"], delegate: true }, ttlSeconds: 600 });
		const child = await mintToken({ scopes: { operations: ["read"] }, ttlSeconds: 300 }, parent.body.token);
		expect(child.status).toBe(201);
		expect((await callJson(`/v1/sessions/${id}`, { key: child.body.token })).status).toBe(200);
		await callJson(`/v1/tokens/${parent.body.id}`, { method: "DELETE" });
		const orphan = await callJson(`/v1/sessions/${id}`, { key: child.body.token });
		expect(orphan.status).toBe(401);
		expect(orphan.body.error.code).toBe("token_revoked");
	});

	it("keeps tenant-wide admin routes from an admin token limited to some sessions or namespaces", async () => {
		for (const scopes of [
			{ operations: ["read", "write", "admin"], sessions: ["support:*"] },
			{ operations: ["read", "write", "admin"], namespaces: ["task"] },
		]) {
			const limited = await token(scopes);
			for (const [path, method, body] of [
				["/v1/admin/retention", "PUT", { retention: { deleteAfterDays: 1 } }],
				["/v1/admin/keys", "GET", undefined],
				["/v1/admin/webhook-signing-key", "GET", undefined],
				["/v1/metrics", "GET", undefined],
			] as const) {
				const refused = await callJson(path, { method, key: limited, body });
				expect(refused.status, `${method} ${path}`).toBe(403);
				expect(refused.body.error.code).toBe("session_out_of_scope");
			}
		}
		expect((await callJson("/v1/admin/retention")).body).toEqual({ retention: null });
	});

	it("refuses a PATCH that moves a session out of the caller's subjects, and destructive writes from a namespace-limited token", async () => {
		const id = await createSession({ body: { subject: "user:alice" } });
		const alice = await token({ operations: ["read", "write"], sessions: ["subject=user:alice"] });
		const moved = await callJson(`/v1/sessions/${id}`, { method: "PATCH", key: alice, body: { subject: "user:bob" } });
		expect(moved.status).toBe(403);
		expect(moved.body.error.code).toBe("session_out_of_scope");
		expect((await callJson(`/v1/sessions/${id}`)).body.subject).toBe("user:alice");

		const narrow = await token({ operations: ["read", "write"], namespaces: ["task"] });
		expect((await callJson(`/v1/sessions/${id}`, { method: "DELETE", key: narrow })).body.error.code).toBe("namespace_out_of_scope");
		expect((await callJson(`/v1/sessions/${id}`, { method: "PATCH", key: narrow, body: { policy: { retention: { deleteAfterDays: 1 } } } })).body.error.code).toBe("namespace_out_of_scope");
		expect((await callJson(`/v1/sessions/${id}`)).status).toBe(200);
	});

	it("puts no state into compaction summaries, where every reader would see it", async () => {
		const id = await createSession({ body: { policy: { keepRecentEvents: 1 } } });
		await callJson(`/v1/sessions/${id}/state/customer/email`, { method: "PUT", body: { value: "ada@example.com" } });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(5, (index) => `finding ${index}`) });
		expect((await callJson(`/v1/sessions/${id}/compact`, { method: "POST", body: {} })).body.compacted).toBe(true);
		const narrow = await token({ operations: ["read"], namespaces: ["task"] });
		const window = await callJson(`/v1/sessions/${id}/context?budget=4000`, { key: narrow });
		expect(window.body.items.some((item: { kind: string }) => item.kind === "summary")).toBe(true);
		expect(JSON.stringify(window.body)).not.toContain("ada@example.com");
		expect(JSON.stringify((await callJson(`/v1/sessions/${id}/compactions`, { key: narrow })).body)).not.toContain("ada@example.com");
	});

	it("ends an SSE stream when its token is revoked", async () => {
		const id = await createSession();
		const minted = await mintToken({ scopes: { operations: ["read"] }, ttlSeconds: 600 });
		const response = await exports.default.fetch(
			new Request(`http://edge-context.test/v1/sessions/${id}/events?live=sse`, { headers: { authorization: `Bearer ${minted.body.token}` } }),
		);
		expect(response.status).toBe(200);
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let text = "";
		const readUntil = async (marker: string) => {
			while (!text.includes(marker)) {
				const { value, done } = await reader.read();
				if (done) break;
				text += decoder.decode(value);
			}
		};
		await readUntil("up-to-date");
		await callJson(`/v1/tokens/${minted.body.id}`, { method: "DELETE" });
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		await readUntil("token_revoked");
		expect(text).toContain("event: error");
		expect(text).toContain("token_revoked");
		expect((await reader.read()).done).toBe(true);
	});

	it("ends a WebSocket subscription when its token expires", async () => {
		const id = await createSession();
		const shortLived = await signed({ scp: { operations: ["read"], sessions: ["*"], namespaces: null, delegate: false } }, { exp: Math.floor(Date.now() / 1000) + 2 });
		const response = await exports.default.fetch(
			new Request(`http://edge-context.test/v1/sessions/${id}/subscribe?after=0`, { headers: { upgrade: "websocket", authorization: `Bearer ${shortLived}` } }),
		);
		expect(response.status).toBe(101);
		const socket = response.webSocket as WebSocket;
		const closed = new Promise<number>((resolve) => socket.addEventListener("close", (event) => resolve(event.code)));
		socket.accept();
		await new Promise((resolve) => setTimeout(resolve, 2500));
		await callJson(`/v1/sessions/${id}/events`, { method: "POST", body: appendBody(1) });
		expect(await closed).toBe(4001);
	});
});
