import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { unwrap } from "../errors";
import type { WriteResult } from "../session/api";

/**
 * The tail every write route shares: the value or the error, `Idempotent-Replayed` when it
 * is the remembered first response, and the session version it produced as the `ETag` (the
 * next write's If-Match).
 */
export function writeResponse<T, S extends 200 | 201>(
	c: Context<AppEnv>,
	result: WriteResult<T>,
	status: S,
	versionOf: (value: T) => number | undefined,
	locationOf?: (value: T) => string,
) {
	const value = unwrap(result);
	if (result.ok && result.replayed) c.header("Idempotent-Replayed", "true");
	const version = versionOf(value);
	if (version !== undefined) c.header("ETag", `"${version}"`);
	if (locationOf) c.header("Location", locationOf(value));
	return c.json(value, status);
}
