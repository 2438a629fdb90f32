// Runs in Node, not workerd: the spec validator compiles JSON schemas with `new Function`,
// which workerd forbids. The app's routes import no runtime-only module, so it builds here.
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/app";

interface Operation {
	operationId?: string;
	summary?: string;
	security?: unknown;
	"x-required-operation"?: string;
	parameters?: Array<{ name: string; required?: boolean }>;
	responses: Record<string, { headers?: Record<string, unknown> }>;
}

async function spec() {
	const response = await buildApp().request("/openapi.json", {}, {});
	expect(response.status).toBe(200);
	return (await response.json()) as {
		openapi: string;
		paths: Record<string, Record<string, Operation>>;
		components: { schemas: Record<string, Record<string, unknown>> };
	};
}

describe("OpenAPI document", () => {
	it("is a valid OpenAPI 3.1 document", async () => {
		const document = await spec();
		const result = await new Validator().validate(document);
		expect(result.errors ?? []).toEqual([]);
		expect(result.valid).toBe(true);
		expect(document.openapi).toBe("3.1.0");
	});

	it("describes every route with its error responses and bearer auth", async () => {
		const document = await spec();
		const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
			Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
		);
		expect(operations.sort()).toEqual(
			[
				"POST /v1/sessions",
				"GET /v1/sessions",
				"GET /v1/sessions/{id}",
				"DELETE /v1/sessions/{id}",
				"PATCH /v1/sessions/{id}",
				"GET /v1/sessions/{id}/context",
				"POST /v1/sessions/{id}/compact",
				"GET /v1/sessions/{id}/compactions",
				"POST /v1/sessions/{id}/checkpoints",
				"GET /v1/sessions/{id}/checkpoints",
				"GET /v1/sessions/{id}/checkpoints/{name}",
				"POST /v1/sessions/{id}/restore",
				"POST /v1/sessions/{id}/fork",
				"POST /v1/sessions/{id}/merge",
				"POST /v1/sessions/{id}/handoffs",
				"GET /v1/sessions/{id}/lineage",
				"POST /v1/sessions/{id}/subagents",
				"POST /v1/sessions/{id}/result",
				"GET /v1/sessions/{id}/subagent",
				"POST /v1/sessions/{id}/events",
				"GET /v1/sessions/{id}/events",
				"POST /v1/sessions/{id}/events/retract",
				"GET /v1/sessions/{id}/blobs/{sha256}",
				"GET /v1/sessions/{id}/state/{ns}",
				"GET /v1/sessions/{id}/state/{ns}/{key}",
				"PUT /v1/sessions/{id}/state/{ns}/{key}",
				"DELETE /v1/sessions/{id}/state/{ns}/{key}",
				"POST /v1/sessions/{id}/lease",
				"DELETE /v1/sessions/{id}/lease",
				"PUT /v1/sessions/{id}/workflows/{name}",
				"GET /v1/sessions/{id}/workflows",
				"GET /v1/sessions/{id}/workflows/{name}",
				"POST /v1/sessions/{id}/workflows/{name}/steps/{step}/start",
				"POST /v1/sessions/{id}/workflows/{name}/steps/{step}/complete",
				"POST /v1/sessions/{id}/workflows/{name}/steps/{step}/fail",
				"POST /v1/sessions/{id}/workflows/{name}/steps/{step}/skip",
				"POST /v1/sessions/{id}/pause",
				"POST /v1/sessions/{id}/resume",
				"POST /v1/sessions/{id}/approvals",
				"GET /v1/sessions/{id}/approvals",
				"GET /v1/sessions/{id}/approvals/{approvalId}",
				"POST /v1/sessions/{id}/approvals/{approvalId}/decision",
				"GET /v1/approvals",
				"GET /v1/sessions/{id}/export",
				"GET /v1/sessions/{id}/subscribe",
				"GET /v1/sessions/{id}/stream",
				"POST /v1/sessions/import",
				"GET /v1/admin/webhook-signing-key",
				"POST /v1/admin/keys",
				"GET /v1/admin/keys",
				"DELETE /v1/admin/keys/{keyId}",
				"POST /v1/tokens",
				"DELETE /v1/tokens/{tokenId}",
				"GET /v1/sessions/{id}/audit",
				"GET /v1/audit",
				"POST /v1/subjects/{subject}/erasure",
				"GET /v1/erasures/{erasureId}",
				"GET /v1/erasures/public-key",
				"GET /v1/metrics",
				"GET /metrics",
				"GET /v1/admin/retention",
				"PUT /v1/admin/retention",
				"GET /v1/sessions/{id}/search",
				"GET /v1/search",
				"POST /v1/sessions/{id}/graph/checkpoints",
				"GET /v1/sessions/{id}/graph/checkpoints",
				"POST /v1/sessions/{id}/graph/writes",
				"GET /v1/sessions/{id}/graph/tuple",
				"DELETE /v1/sessions/{id}/graph",
				"GET /v1/graph/checkpoints",
			].sort(),
		);
		for (const [path, methods] of Object.entries(document.paths)) {
			for (const operation of Object.values(methods)) {
				if (path !== "/v1/erasures/public-key") expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["400", "401", "403"]));
				// The key that verifies erasure receipts is published to anyone.
				expect(operation.security).toEqual(path === "/v1/erasures/public-key" ? undefined : [{ bearerAuth: [] }]);
			}
		}
	});

	it("declares next to every route the operation a credential needs for it", async () => {
		const document = await spec();
		for (const [path, methods] of Object.entries(document.paths)) {
			for (const [method, operation] of Object.entries(methods)) {
				const needed = (operation as { "x-required-operation"?: string })["x-required-operation"];
				expect(["read", "write", "admin"], `${method.toUpperCase()} ${path}`).toContain(needed);
				if (path.startsWith("/v1/admin/") || path.includes("audit") || path.includes("metrics")) expect(needed, path).toBe("admin");
				else if (method !== "get" && path !== "/v1/tokens") expect(needed, `${method.toUpperCase()} ${path}`).not.toBe("read");
			}
		}
	});

	it("names every operation with a unique camelCase operationId and a summary; writes document ETag, creates Location", async () => {
		const document = await spec();
		const ids = new Set<string>();
		for (const [path, methods] of Object.entries(document.paths)) {
			for (const [method, operation] of Object.entries(methods)) {
				const where = `${method.toUpperCase()} ${path}`;
				const operationId = operation.operationId ?? "";
				expect(operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
				expect(ids.has(operationId), `${where}: duplicate ${operationId}`).toBe(false);
				ids.add(operationId);
				expect(operation.summary, where).toBeTruthy();
				const success = Object.entries(operation.responses).find(([status]) => status.startsWith("2") || status === "101");
				expect(success, where).toBeDefined();
				const headers = success?.[1].headers ?? {};
				if ("ETag" in headers) expect(headers["Idempotent-Replayed"], where).toBeDefined();
				if (success?.[0] === "201" && !["/v1/admin/keys", "/v1/tokens", "/v1/sessions/{id}/events"].includes(path)) {
					expect(headers.Location, `${where}: Location`).toBeDefined();
				}
			}
		}
		expect(document.paths["/v1/sessions/{id}/events"].post.responses["201"].headers?.ETag).toBeDefined();
		const links = (document.paths["/v1/sessions"].post.responses["201"] as { links?: Record<string, { operationId: string }> }).links ?? {};
		expect(Object.values(links).map((link) => link.operationId)).toEqual(expect.arrayContaining(["getSession", "appendEvents", "getContext"]));
		for (const link of Object.values(links)) expect(ids.has(link.operationId)).toBe(true);
		expect(document.components.schemas.Restore.oneOf).toEqual([{ required: ["checkpoint"] }, { required: ["version"] }]);
		expect(document.paths["/v1/sessions/{id}/lease"].delete.parameters?.find((parameter) => parameter.name === "lease-token")?.required).toBe(true);
	});
});
