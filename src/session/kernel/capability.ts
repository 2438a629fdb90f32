/**
 * What a capability (events, state, compaction, ...) brings to the session object. Each owns
 * its tables and their migrations, names the tables a delete must empty, handles its own
 * timers and says which R2 objects its rows still reference. Adding a capability is a new
 * folder that exports one of these, plus one line in ../capabilities.ts.
 */
import type { SessionContext } from "./session-context";
import type { TimerRun } from "./timers";

export type TimerHandler = (session: SessionContext, run: TimerRun) => Promise<void>;

export interface Capability {
	name: string;
	/**
	 * Schema changes in rounds: round i of every capability runs before round i + 1 of any,
	 * so a round may use tables another capability created in an earlier one. Never edit a
	 * round that has shipped; add one. An empty round keeps a capability aligned.
	 */
	migrations: string[][];
	/** Tables holding any of the session's content: a deletion empties every one. */
	contentTables?: string[];
	/** After a deletion emptied the content tables: clear what an index still keeps of them. */
	contentEmptied?: (sql: SqlStorage) => void;
	/** Handlers of this capability's timer kinds. */
	timers?: Record<string, TimerHandler>;
	/** Whether a committed row still references this R2 key (a swept upload must not break it). */
	references?: (sql: SqlStorage, key: string) => boolean;
}
