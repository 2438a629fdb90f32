import { ApiError } from "../errors";
import type { WriteHeaders } from "../schemas/common";
import type { WriteOptions } from "../session/api";

/**
 * Reads a write's options from its headers, and the body's expectedVersion if it has one.
 * If-Match and expectedVersion mean the same thing; sending both with different values is
 * ambiguous and refused.
 */
export function writeOptions(headers: WriteHeaders, bodyExpectedVersion?: number): WriteOptions {
	const fromHeader = headers["if-match"] === undefined ? undefined : Number(headers["if-match"].replace(/^W\//, "").replaceAll('"', ""));
	if (fromHeader !== undefined && bodyExpectedVersion !== undefined && fromHeader !== bodyExpectedVersion) {
		throw new ApiError("validation_failed", "If-Match and expectedVersion disagree", {
			ifMatch: fromHeader,
			expectedVersion: bodyExpectedVersion,
		});
	}
	if (headers["idempotency-retention"] !== undefined && headers["idempotency-key"] === undefined) {
		throw new ApiError("validation_failed", "Idempotency-Retention says how long an Idempotency-Key is remembered: send one", { header: "idempotency-retention" });
	}
	return {
		idempotencyKey: headers["idempotency-key"],
		idempotencyRetention: headers["idempotency-retention"],
		expectedVersion: fromHeader ?? bodyExpectedVersion,
		leaseToken: headers["lease-token"] === undefined ? undefined : Number(headers["lease-token"]),
	};
}
