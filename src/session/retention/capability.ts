import type { Capability } from "../kernel/capability";
import { enforceRetention, RETENTION_TIMER } from "./retention";

/** Deleting sessions past their retention (retention.ts); its state is one timer. */
export const retention: Capability = {
	name: "retention",
	migrations: [],
	timers: { [RETENTION_TIMER]: enforceRetention },
};
