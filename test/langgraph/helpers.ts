/** What the LangGraph tests share: the served Worker, and a fresh tenant per saver. */
import { inject } from "vitest";
import { EdgeContextSaver } from "../../sdk/src/langgraph";

export const workerUrl = inject("workerUrl");

let tenants = 0;

/** An admin key of a tenant nobody else uses, so fixed thread ids never collide across savers. */
export async function freshTenantKey(): Promise<string> {
	const tenant = `lg-${process.pid}-${Date.now().toString(36)}-${tenants++}`;
	const response = await fetch(`${workerUrl}/v1/admin/keys`, {
		method: "POST",
		headers: { authorization: `Bearer ${inject("adminKey")}`, "content-type": "application/json" },
		body: JSON.stringify({ role: "admin", tenant }),
	});
	if (!response.ok) throw new Error(`minting a key for ${tenant}: ${response.status} ${await response.text()}`);
	return ((await response.json()) as { key: string }).key;
}

export async function freshSaver(options: { fetch?: typeof fetch } = {}): Promise<EdgeContextSaver> {
	return new EdgeContextSaver({ baseUrl: workerUrl, apiKey: await freshTenantKey(), ...options });
}
