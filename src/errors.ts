import { z } from "@hono/zod-openapi";
import type { Json } from "./schemas/common";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";

/** Every error the API can return, with a stable machine-readable code. */
export const ErrorCode = z.enum([
	"invalid_json",
	"validation_failed",
	"unauthorized",
	"token_invalid",
	"token_expired",
	"token_revoked",
	"forbidden",
	"operation_out_of_scope",
	"session_out_of_scope",
	"namespace_out_of_scope",
	"scope_widening",
	"not_found",
	"method_not_allowed",
	"upgrade_required",
	"session_not_found",
	"session_exists",
	"session_deleted",
	"version_conflict",
	"lease_held",
	"lease_token_stale",
	"lease_expired",
	"idempotency_key_reused",
	"budget_too_small",
	"fork_too_large",
	"restore_too_large",
	"export_too_large",
	"checkpoint_exists",
	"workflow_exists",
	"step_conflict",
	"retry_limit_reached",
	"session_paused",
	"session_closed",
	"subject_mismatch",
	"tail_changed",
	"not_a_subagent",
	"result_invalid",
	"result_too_large",
	"schema_invalid",
	"approval_decided",
	"approval_exists",
	"merge_conflict",
	"not_a_fork",
	"resolution_not_in_merge",
	"payload_too_large",
	"unsupported_media_type",
	"dependency_unavailable",
	"internal_error",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

const statusByCode: Record<ErrorCode, ContentfulStatusCode> = {
	invalid_json: 400,
	validation_failed: 400,
	unauthorized: 401,
	token_invalid: 401,
	token_expired: 401,
	token_revoked: 401,
	forbidden: 403,
	operation_out_of_scope: 403,
	session_out_of_scope: 403,
	namespace_out_of_scope: 403,
	scope_widening: 403,
	not_found: 404,
	method_not_allowed: 405,
	upgrade_required: 426,
	session_not_found: 404,
	session_exists: 409,
	session_deleted: 410,
	version_conflict: 409,
	lease_held: 423,
	lease_token_stale: 409,
	lease_expired: 409,
	idempotency_key_reused: 422,
	budget_too_small: 422,
	fork_too_large: 422,
	restore_too_large: 422,
	export_too_large: 422,
	checkpoint_exists: 409,
	workflow_exists: 409,
	step_conflict: 409,
	retry_limit_reached: 422,
	session_paused: 423,
	session_closed: 409,
	subject_mismatch: 409,
	tail_changed: 409,
	not_a_subagent: 422,
	result_invalid: 422,
	result_too_large: 422,
	schema_invalid: 422,
	approval_decided: 409,
	approval_exists: 409,
	merge_conflict: 409,
	not_a_fork: 422,
	resolution_not_in_merge: 422,
	payload_too_large: 413,
	unsupported_media_type: 415,
	dependency_unavailable: 503,
	internal_error: 500,
};

export type ErrorDetails = Record<string, Json>;

/**
 * An expected failure carried as data. Durable Object RPC drops custom properties of thrown
 * errors, so the object returns these and the route turns them into HTTP errors.
 */
export interface Failure {
	ok: false;
	code: ErrorCode;
	message: string;
	details?: ErrorDetails;
}
export type Result<T> = { ok: true; value: T } | Failure;

export function fail(code: ErrorCode, message: string, details?: ErrorDetails): Failure {
	return details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };
}

export function ok<T>(value: T): { ok: true; value: T } {
	return { ok: true, value };
}

/** The one error type routes throw; `handleError` renders it. */
export class ApiError extends Error {
	readonly status: ContentfulStatusCode;
	constructor(
		readonly code: ErrorCode,
		message: string,
		readonly details?: ErrorDetails,
	) {
		super(message);
		this.name = "ApiError";
		this.status = statusByCode[code];
	}

	static from(failure: Failure): ApiError {
		return new ApiError(failure.code, failure.message, failure.details);
	}
}

/** Returns the value of a successful result, or throws the failure as an ApiError. */
export function unwrap<T>(result: Result<T>): T {
	if (!result.ok) throw ApiError.from(result);
	return result.value;
}

export const ErrorResponse = z
	.object({
		error: z.object({
			code: ErrorCode,
			message: z.string(),
			details: z.record(z.string(), z.unknown()).optional(),
			requestId: z.string().optional(),
		}),
	})
	.openapi("Error");

/** Turns zod issues into a 400 whose details name each offending field by its path. */
export function validationError(error: ZodError, where: string): ApiError {
	return new ApiError("validation_failed", `Invalid ${where}`, {
		issues: error.issues.map((issue) => ({
			path: issue.path.map(String).join("."),
			code: issue.code,
			message: issue.message,
		})),
	});
}

export function errorResponse(c: Context, error: ApiError): Response {
	const requestId = c.get("requestId") as string | undefined;
	return c.json(
		{
			error: {
				code: error.code,
				message: error.message,
				...(error.details ? { details: error.details } : {}),
				...(requestId ? { requestId } : {}),
			},
		},
		error.status,
	);
}

/** Maps anything thrown in a request to the JSON error shape; never leaks a stack trace. */
export function handleError(err: unknown, c: Context): Response {
	if (err instanceof ApiError) return errorResponse(c, err);
	if (err instanceof HTTPException) {
		// Hono's JSON validator throws a 400 HTTPException for a body that is not JSON.
		if (err.status === 400) return errorResponse(c, new ApiError("invalid_json", "Request body is not valid JSON"));
		if (err.status === 413) return errorResponse(c, new ApiError("payload_too_large", "Request body is too large"));
	}
	console.error(
		JSON.stringify({
			level: "error",
			msg: "unhandled error",
			requestId: c.get("requestId"),
			error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
		}),
	);
	if (isOverloaded(err)) {
		return errorResponse(c, new ApiError("dependency_unavailable", "The session is temporarily unavailable, retry"));
	}
	return errorResponse(c, new ApiError("internal_error", "Internal error"));
}

/** Durable Object resets and overloads are retryable, so they are 503s, not 500s. */
function isOverloaded(err: unknown): boolean {
	if (!(err instanceof Error)) return false;
	const flags = err as { retryable?: boolean; overloaded?: boolean };
	return flags.retryable === true || flags.overloaded === true;
}
