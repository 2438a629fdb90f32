/**
 * Every capability of the session object, in migration order. A new capability is a folder
 * exporting a Capability, and one line here.
 */
import { audit } from "./audit/capability";
import { compaction } from "./compaction/capability";
import { erasure } from "./erasure/capability";
import { escalations } from "./escalations/capability";
import { events } from "./events/capability";
import { graph } from "./graph/capability";
import { history } from "./history/capability";
import { idempotency } from "./idempotency/capability";
import type { Capability } from "./kernel/capability";
import { timerTable } from "./kernel/timers-capability";
import { lease } from "./lease/capability";
import { lineage } from "./lineage/capability";
import { merge } from "./merge/capability";
import { metrics } from "./metrics/capability";
import { retention } from "./retention/capability";
import { projection } from "./projection/capability";
import { search } from "./search/capability";
import { sessions } from "./sessions/capability";
import { state } from "./state/capability";
import { subagents } from "./subagents/capability";

export const CAPABILITIES: readonly Capability[] = [
	sessions,
	events,
	state,
	compaction,
	history,
	lease,
	idempotency,
	projection,
	escalations,
	audit,
	erasure,
	metrics,
	retention,
	lineage,
	subagents,
	merge,
	search,
	graph,
	timerTable,
];

/** Every table a deletion must empty. */
export const CONTENT_TABLES = CAPABILITIES.flatMap((capability) => capability.contentTables ?? []);

/** What a deletion does to the session's content: every content table emptied, and what indexes keep of them. */
export function emptyContent(sql: SqlStorage): void {
	for (const table of CONTENT_TABLES) sql.exec(`DELETE FROM ${table}`);
	for (const capability of CAPABILITIES) capability.contentEmptied?.(sql);
}

/** Whether any committed row still references the R2 key. */
export function isReferenced(sql: SqlStorage, key: string): boolean {
	return CAPABILITIES.some((capability) => capability.references?.(sql, key) ?? false);
}
