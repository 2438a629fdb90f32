/**
 * Route-level authorization, declared next to each route: `...requires("write")` in its
 * createRoute config adds the check as the route's own middleware (run before validation, so
 * a refused request never reaches a stub) and names the operation in the OpenAPI document.
 * A session id in the path is checked against the session patterns here; `subject=`
 * patterns are decided by the object, which knows the subject.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Principal } from "../app-env";
import { ApiError, type Failure, fail } from "../errors";
import type { Operation } from "../schemas/scopes";
import { admitsNamespace, type Caller, mayReach } from "./scopes";

export function checkOperation(principal: Principal, operation: Operation): void {
	if (!principal.scopes.operations.includes(operation)) {
		throw new ApiError("operation_out_of_scope", `This credential may not ${operation}`, { needs: operation, has: principal.scopes.operations });
	}
}

export function checkSession(principal: Principal, sessionId: string): void {
	const refused = sessionScopeFailure(principal, sessionId);
	if (refused) throw ApiError.from(refused);
}

export function checkNamespace(principal: Principal, ns: string): void {
	if (!admitsNamespace(principal.scopes.namespaces, ns)) {
		throw new ApiError("namespace_out_of_scope", `This credential may not use namespace ${ns}`, { ns, namespaces: principal.scopes.namespaces });
	}
}

/** The Worker's session check as data, for operations that compute the id (create, fork, import). */
export function sessionScopeFailure(principal: Principal, sessionId: string): Failure | null {
	if (mayReach(principal.scopes.sessions, sessionId)) return null;
	return fail("session_out_of_scope", `This credential may not reach session ${sessionId}`, { sessionId, sessions: principal.scopes.sessions });
}

/**
 * `tenantWide`: the route acts on the whole tenant (keys, tokens, settings, metrics), so a
 * credential limited to some sessions or namespaces may not use it, even as an admin.
 */
export function requires(operation: Operation, options: { tenantWide?: boolean } = {}) {
	return { middleware: [guard(operation, options)], "x-required-operation": operation, ...(options.tenantWide ? { "x-tenant-wide": true } : {}) };
}

export function checkTenantWide(principal: Principal): void {
	if (!principal.scopes.sessions.includes("*") || principal.scopes.namespaces !== null) {
		throw new ApiError("session_out_of_scope", "This acts on the whole tenant: it needs a credential for every session and namespace", {
			sessions: principal.scopes.sessions,
			namespaces: principal.scopes.namespaces,
		});
	}
}

/** The check alone, for the few routes served by plain handlers (streams, upgrades). */
export function guard(operation: Operation, options: { tenantWide?: boolean } = {}): MiddlewareHandler<AppEnv> {
	return async (c, next) => {
		const principal = c.var.principal;
		checkOperation(principal, operation);
		if (options.tenantWide) checkTenantWide(principal);
		const sessionId = c.req.param("id");
		if (sessionId !== undefined) checkSession(principal, sessionId);
		const ns = c.req.param("ns");
		if (ns !== undefined) checkNamespace(principal, ns);
		await next();
	};
}

/** What the session object is told of this request: scopes to enforce, names to audit. */
export function callerOf(principal: Principal): Caller {
	return {
		principal: principal.id,
		agent: principal.agent,
		requestId: principal.requestId,
		sessions: principal.scopes.sessions,
		namespaces: principal.scopes.namespaces,
		expiresAt: principal.expiresAt,
	};
}
