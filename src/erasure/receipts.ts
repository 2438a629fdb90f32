/**
 * Erasure receipts: signed with Ed25519 (WebCrypto) by the secret ERASURE_SIGNING_KEY
 * (PKCS#8, base64), so anyone holding the published public key can check that a receipt is
 * the service's and unaltered. What is signed is the receipt's canonical JSON: keys sorted at
 * every level, no whitespace (the same bytes whoever serializes it).
 */
const encoder = new TextEncoder();

export function canonicalJson(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
	if (value !== null && typeof value === "object") {
		const entries = Object.entries(value as Record<string, unknown>)
			.filter(([, field]) => field !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(",")}}`;
	}
	return JSON.stringify(value);
}

function base64urlOf(bytes: Uint8Array): string {
	return btoa(String.fromCharCode(...bytes))
		.replaceAll("+", "-")
		.replaceAll("/", "_")
		.replace(/=+$/, "");
}

function bytesOfBase64url(text: string): Uint8Array {
	const padded = text.replaceAll("-", "+").replaceAll("_", "/");
	return Uint8Array.from(atob(padded + "=".repeat((4 - (padded.length % 4)) % 4)), (char) => char.charCodeAt(0));
}

export interface PublicKeyJwk {
	kty: "OKP";
	crv: "Ed25519";
	x: string;
	kid: string;
	alg: "EdDSA";
	use: "sig";
}

let cached: { secret: string; privateKey: CryptoKey; publicKey: PublicKeyJwk } | null = null;

async function signingKey(secret: string | undefined): Promise<{ privateKey: CryptoKey; publicKey: PublicKeyJwk }> {
	if (!secret) throw new Error("ERASURE_SIGNING_KEY is not configured");
	if (cached?.secret === secret) return cached;
	const der = Uint8Array.from(atob(secret), (char) => char.charCodeAt(0));
	const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
	// The private key's JWK carries its public half (x); the key id is derived from it.
	const { x } = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey & { x: string };
	const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytesOfBase64url(x)));
	const publicKey: PublicKeyJwk = { kty: "OKP", crv: "Ed25519", x, kid: base64urlOf(digest.slice(0, 12)), alg: "EdDSA", use: "sig" };
	cached = { secret, privateKey, publicKey };
	return cached;
}

export async function publicKeyOf(secret: string | undefined): Promise<PublicKeyJwk> {
	return (await signingKey(secret)).publicKey;
}

export async function signReceipt<T extends object>(secret: string | undefined, receipt: T): Promise<{ alg: "EdDSA"; keyId: string; value: string }> {
	const { privateKey, publicKey } = await signingKey(secret);
	const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, encoder.encode(canonicalJson(receipt))));
	return { alg: "EdDSA", keyId: publicKey.kid, value: base64urlOf(signature) };
}

/** What a third party does with the published key; used by the tests and documented in the README. */
export async function verifyReceipt(publicKey: PublicKeyJwk, receipt: object, signature: string): Promise<boolean> {
	const key = await crypto.subtle.importKey("jwk", publicKey, { name: "Ed25519" }, false, ["verify"]);
	return crypto.subtle.verify({ name: "Ed25519" }, key, bytesOfBase64url(signature), encoder.encode(canonicalJson(receipt)));
}

/** The subject as a receipt names it: SHA-256 of tenant and subject, so the receipt holds no personal data. */
export async function subjectHash(tenant: string, subject: string): Promise<string> {
	const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${tenant}\n${subject}`)));
	return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
