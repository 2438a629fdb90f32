/**
 * `GET …/lineage`: walks the sessions linked to one (parents and children, fork parents and forks, handoff sources
 * and targets, subagents and their parents), asking each session for its own links and the
 * D1 index for children that name it as their parent. Sessions the credential may not reach
 * are left out, with their links.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { listSessions } from "../db/sessions";
import { type Result } from "../errors";
import type { Lineage } from "../schemas/handoffs";
import type { LineageEntry } from "../session/api";
import { sessionApi } from "./session-api";
import { indexDatabase } from "../projector/shards";

/** Sessions one answer walks, at most: each is one call to its object. */
const MAX_SESSIONS = 50;
/** Sessions asked at once. */
const PARALLEL = 8;

type Node = Lineage["sessions"][number];
type Link = Lineage["links"][number];

export async function lineage(env: Env, principal: Principal, rootId: string): Promise<Result<Lineage>> {
	const caller = callerOf(principal);
	const describe = async (id: string): Promise<Result<LineageEntry>> => sessionApi(env, principal, id).describeLineage(caller);
	const rootEntry = await describe(rootId);
	if (!rootEntry.ok) return rootEntry;

	const nodes = new Map<string, Node>();
	const links = new Map<string, Link>();
	const queued = new Set<string>([rootId]);
	let frontier: Array<{ id: string; entry: Result<LineageEntry> }> = [{ id: rootId, entry: rootEntry }];
	let truncated = false;
	const addLink = (link: Link) => {
		const key = `${link.kind} ${link.from} ${link.to} ${link.ref ?? ""}`;
		// Both ends describe a subagent link: a finished status (the child's truth, or the parent's record of it) wins over running.
		const known = links.get(key);
		if (known?.status && known.status !== "running") return;
		links.set(key, link);
	};

	while (frontier.length > 0) {
		const next: string[] = [];
		const enqueue = (id: string | null | undefined) => {
			if (!id || queued.has(id) || sessionScopeFailure(principal, id)) return;
			if (queued.size >= MAX_SESSIONS) {
				truncated = true;
				return;
			}
			queued.add(id);
			next.push(id);
		};
		for (const { id, entry } of frontier) {
			if (!entry.ok) {
				if (entry.code === "session_deleted") nodes.set(id, { id, agent: null, status: "deleted", closed: null, createdAt: new Date(0).toISOString() });
				continue;
			}
			const self = entry.value;
			nodes.set(id, { id, agent: self.agent, status: "active", closed: self.closed, createdAt: self.createdAt });
			if (self.forkedFrom) addLink({ kind: "fork", from: self.forkedFrom.sessionId, to: id, ref: null, status: null, at: self.createdAt });
			enqueue(self.forkedFrom?.sessionId ?? self.parentId);
			// A session created with a parentId is linked to it, unless it is a fork or a subagent of it (those links say how).
			const parentLinked = self.forkedFrom !== null || self.links.some((link) => link.kind === "subagent_of" && link.peer === self.parentId);
			if (self.parentId && !parentLinked) addLink({ kind: "parent", from: self.parentId, to: id, ref: null, status: null, at: self.createdAt });
			for (const link of self.links) {
				enqueue(link.peer);
				if (link.kind === "handoff_out") addLink({ kind: "handoff", from: id, to: link.peer, ref: link.ref, status: null, at: link.at });
				if (link.kind === "handoff_in") addLink({ kind: "handoff", from: link.peer, to: id, ref: link.ref, status: null, at: link.at });
				if (link.kind === "subagent") addLink({ kind: "subagent", from: id, to: link.peer, ref: null, status: link.status, at: link.at });
				if (link.kind === "subagent_of") addLink({ kind: "subagent", from: link.peer, to: id, ref: null, status: self.closed ?? "running", at: link.at });
			}
			// Forks (and subagents whose parent has not linked them yet) are found by the index: they name their parent.
			const children = await listSessions(indexDatabase(env, principal.tenant), principal.tenant, { parentId: id, limit: MAX_SESSIONS }, null, principal.scopes.sessions);
			for (const child of children.rows) enqueue(child.id);
		}
		frontier = [];
		for (let start = 0; start < next.length; start += PARALLEL) {
			const batch = next.slice(start, start + PARALLEL);
			const entries = await Promise.all(batch.map(describe));
			frontier.push(...batch.map((id, index) => ({ id, entry: entries[index] })));
		}
	}
	// A link is shown only between sessions the answer shows.
	const shown = [...links.values()].filter((link) => nodes.has(link.from) && nodes.has(link.to));
	return { ok: true, value: { root: rootId, sessions: [...nodes.values()], links: shown.sort((a, b) => a.at.localeCompare(b.at)), truncated } };
}
