/**
 * API key format and verification. A key is `ec_<id>_<secret>`: the id finds the row, the
 * SHA-256 of the whole key is compared in constant time, and only that hash is stored.
 */
import type { ApiKeyRow } from "../db/api-keys";
import { Scopes } from "../schemas/scopes";
import { operationsOf } from "./scopes";

const KEY_PATTERN = /^ec_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

const encoder = new TextEncoder();

function randomBase32(length: number): string {
	const bytes = crypto.getRandomValues(new Uint8Array(length));
	return [...bytes].map((byte) => BASE32[byte % 32]).join("");
}

function base64url(bytes: Uint8Array): string {
	return btoa(String.fromCharCode(...bytes))
		.replaceAll("+", "-")
		.replaceAll("/", "_")
		.replace(/=+$/, "");
}

export async function sha256(text: string): Promise<Uint8Array> {
	return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

export function toHex(bytes: Uint8Array): string {
	return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A new key: its id (public) and the full secret key (shown once). */
export function mintKey(): { id: string; key: string } {
	const id = randomBase32(16);
	return { id, key: `ec_${id}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}` };
}

/** The key id of a well-formed key, or null. */
export function keyIdOf(key: string): string | null {
	return KEY_PATTERN.exec(key)?.[1] ?? null;
}

/** Compares two equal-length digests without leaking where they differ. */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
	return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}

export function hexToBytes(hex: string): Uint8Array {
	const bytes = new Uint8Array(hex.length / 2);
	for (let index = 0; index < bytes.length; index++) bytes[index] = Number.parseInt(hex.slice(index * 2, index * 2 + 2), 16);
	return bytes;
}

/** A key's scopes: its role's operations over the sessions and namespaces it was minted for. */
export function keyScopes(row: Pick<ApiKeyRow, "role" | "scopes">): Scopes {
	const stored = row.scopes === null ? {} : (JSON.parse(row.scopes) as Partial<Scopes>);
	return Scopes.parse({ ...stored, operations: operationsOf(row.role) });
}
