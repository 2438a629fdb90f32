/**
 * A layered window: the thread's own context with what its linked layers (a user's memory,
 * an organisation's policies) contribute, each under an even part of `layerShare` of the
 * budget. Layers are read first, in parallel, then the thread builds its window around their
 * items; every call's cost follows its budget, not the size of any layer.
 */
import type { Principal } from "../app-env";
import { callerOf, sessionScopeFailure } from "../auth/authorize";
import { fail, type Result } from "../errors";
import { type ContextItem, type ContextQuery, type ContextWindow, DEFAULT_LAYER_SHARE, type LayerUse } from "../schemas/context";
import type { LayerSlice } from "../session/api";
import { sessionApi } from "./session-api";

export async function layeredContext(env: Env, principal: Principal, id: string, query: ContextQuery & { layers: string }): Promise<Result<ContextWindow>> {
	if (query.at !== undefined) {
		return fail("validation_failed", "Layers are read as they are now: a window at an earlier version has none", { issues: [{ path: "layers", message: "not with at" }] });
	}
	const caller = callerOf(principal);
	const thread = sessionApi(env, principal, id);
	const linked: Result<Record<string, string>> = await thread.layerLinks(caller);
	if (!linked.ok) return linked;
	const links = linked.value;
	const names = query.layers === "all" ? Object.keys(links) : [...new Set(query.layers.split(","))];
	const unknown = names.filter((name) => links[name] === undefined);
	if (unknown.length > 0) {
		return fail("validation_failed", `The session links no layer ${unknown.join(", ")}`, { issues: unknown.map((name) => ({ path: "layers", message: `no layer ${name}` })), links });
	}
	for (const name of names) {
		const refused = sessionScopeFailure(principal, links[name]);
		if (refused) return refused;
	}

	const share = Math.floor((query.budget * (query.layerShare ?? DEFAULT_LAYER_SHARE)) / Math.max(1, names.length));
	const slices: Result<LayerSlice>[] = await Promise.all(
		names.map((name) =>
			sessionApi(env, principal, links[name])
				.getLayerSlice(caller, name, share)
				// A layer whose storage fails (an archive in R2 unreadable) leaves the thread's window whole.
				.catch(() => fail("dependency_unavailable", `Layer ${name} could not be read`)),
		),
	);
	const items: ContextItem[] = [];
	const uses: LayerUse[] = [];
	for (const [index, name] of names.entries()) {
		const slice = slices[index];
		if (slice.ok) {
			items.push(...slice.value.items);
			uses.push({ layer: name, sessionId: links[name], version: slice.value.version, budget: share, used: slice.value.used, omitted: slice.value.omitted });
			continue;
		}
		// A layer that is gone leaves the thread's window whole; one the caller may not read refuses it.
		if (slice.code !== "session_deleted" && slice.code !== "session_not_found" && slice.code !== "dependency_unavailable") return slice;
		uses.push({ layer: name, sessionId: links[name], version: null, budget: share, used: 0, omitted: 0, unavailable: slice.code });
	}
	const window: Result<ContextWindow> = await thread.getContext(caller, { ...query, layers: undefined, layerShare: undefined }, items);
	if (!window.ok) return window;
	return { ok: true, value: { ...window.value, layers: uses } };
}
