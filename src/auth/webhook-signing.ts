/**
 * Webhook signatures. Each tenant has its own signing key, derived from the deployment's
 * WEBHOOK_SIGNING_SECRET (so rotating that secret rotates every tenant's key), and a delivery
 * carries `EdgeContext-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`: the
 * receiver recomputes it with its key and rejects stale timestamps.
 */
import { toHex } from "./api-keys";

const encoder = new TextEncoder();

async function hmac(key: string, message: string): Promise<string> {
	const cryptoKey = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message))));
}

/** The tenant's webhook signing key (hex). */
export function tenantSigningKey(deploymentSecret: string, tenant: string): Promise<string> {
	return hmac(deploymentSecret, `edge-context webhook signing key\n${tenant}`);
}

/** The signature header for a body sent at `unixSeconds`. */
export async function signatureHeader(tenantKey: string, body: string, unixSeconds: number): Promise<string> {
	return `t=${unixSeconds},v1=${await hmac(tenantKey, `${unixSeconds}.${body}`)}`;
}

/** Whether a webhook URL may be used: https, or http to localhost when allowed (development). */
export function webhookAllowed(url: string, allowLocal: boolean): boolean {
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return false;
	}
	if (parsed.protocol === "https:") return true;
	return allowLocal && parsed.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(parsed.hostname);
}
