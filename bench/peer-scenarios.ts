/**
 * What bench/peer.ts loads on our Worker, the agents/sessions peer and the floor. The plain
 * append, the tail read and the state put and get are bench/scenarios.ts's, sent byte for byte
 * (state to ours and the floor only: the peer keeps no key-value state; for the tail the peer
 * reads its newest `limit` messages and ignores `after`, which names the same 20 here). The
 * guarded append is ours alone: the peer has no Idempotency-Key and no expectedVersion.
 */
import { randomUUID } from "node:crypto";
import { call, type RequestSpec, type Target } from "./load";
import { scenarios as floorScenarios, messages } from "./scenarios";

export type PeerScenarioName = "append" | "read-tail" | "append-guarded" | "state-put" | "state-get";

export interface PeerScenario {
	name: PeerScenarioName;
	description: string;
	/** Who can serve it; a scenario only ours can serve is compared with `comparedWith` of the others. */
	roles: Target["role"][];
	comparedWith: PeerScenarioName;
	concurrency: number[];
	prepare(target: Target, sessionId: string): Promise<RequestSpec>;
}

/** A bench/scenarios.ts scenario; the peer has no key-value state, so state is ours against the floor. */
function shared(name: "append" | "read-tail" | "state-put" | "state-get", roles: Target["role"][] = ["floor", "peer", "ours"]): PeerScenario {
	const scenario = floorScenarios.find((candidate) => candidate.name === name);
	if (!scenario) throw new Error(`no scenario ${name} in bench/scenarios.ts`);
	return { ...scenario, name, roles, comparedWith: name, concurrency: [1, 32], prepare: scenario.prepare };
}

export const peerScenarios: PeerScenario[] = [
	shared("append"),
	shared("read-tail"),
	shared("state-put", ["floor", "ours"]),
	shared("state-get", ["floor", "ours"]),
	{
		name: "append-guarded",
		description:
			"our append with a fresh Idempotency-Key and expectedVersion = the session's version, per request; " +
			"concurrency 1 only (concurrent writers expecting one version conflict by design); compared with the others' plain append",
		roles: ["ours"],
		comparedWith: "append",
		concurrency: [1],
		async prepare(target, sessionId) {
			const path = `/v1/sessions/${encodeURIComponent(sessionId)}/events`;
			// A window too large to reach in one run: a compaction would bump the version, and the
			// next request, expecting the old one, would be refused (409) as designed.
			await call(target, "POST", "/v1/sessions", { id: sessionId, policy: { modelWindow: 10_000_000 } });
			let { version } = (await call(target, "POST", path, messages(1))) as { version: number };
			return {
				method: "POST",
				path,
				body: JSON.stringify({ ...messages(1), expectedVersion: version }),
				// One request in flight: each answers before the next is built, one version later.
				next: () => ({ headers: { "idempotency-key": randomUUID() }, body: JSON.stringify({ ...messages(1), expectedVersion: version++ }) }),
			};
		},
	},
];
