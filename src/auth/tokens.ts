/**
 * Short-lived scoped tokens: HS256 JWTs (jose) verified in the Worker with no D1 round trip.
 * The signing keys are the secret TOKEN_SIGNING_KEYS, `kid:secret` pairs separated by commas:
 * the first signs, every one verifies, so a rotation adds a new first pair and drops the old
 * one once its tokens have expired (at most the longest TTL later).
 */
import { errors, jwtVerify, SignJWT } from "jose";
import { ApiError } from "../errors";
import { Scopes } from "../schemas/scopes";

const ISSUER = "edge-context";
export { MAX_TTL_SECONDS as MAX_TOKEN_TTL_SECONDS } from "../schemas/scopes";
const encoder = new TextEncoder();

export interface TokenClaims {
	id: string;
	tenant: string;
	scopes: Scopes;
	agent: string | null;
	issuedBy: string;
	/** Every credential above this token, oldest first (`key:<id>`, `token:<id>`). */
	chain: string[];
	expiresAt: number;
}

interface SigningKey {
	kid: string;
	secret: Uint8Array;
}

function signingKeys(configured: string | undefined): SigningKey[] {
	const keys = (configured ?? "")
		.split(",")
		.map((pair) => pair.trim())
		.filter(Boolean)
		.map((pair) => {
			const colon = pair.indexOf(":");
			return { kid: pair.slice(0, colon), secret: encoder.encode(pair.slice(colon + 1)) };
		})
		.filter((key) => key.kid.length > 0 && key.secret.byteLength >= 32);
	return keys;
}

/** Tokens look like JWTs; API keys start with `ec_`. */
export function looksLikeToken(presented: string): boolean {
	return presented.startsWith("eyJ") && presented.split(".").length === 3;
}

export function newTokenId(): string {
	return `tok_${[...crypto.getRandomValues(new Uint8Array(12))].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

export async function signToken(env: Env, claims: TokenClaims): Promise<string> {
	const [current] = signingKeys(env.TOKEN_SIGNING_KEYS);
	if (!current) throw new ApiError("dependency_unavailable", "Token signing is not configured (secret TOKEN_SIGNING_KEYS)");
	return new SignJWT({ ten: claims.tenant, scp: claims.scopes, agt: claims.agent, by: claims.issuedBy, chn: claims.chain })
		.setProtectedHeader({ alg: "HS256", kid: current.kid, typ: "JWT" })
		.setIssuer(ISSUER)
		.setJti(claims.id)
		.setIssuedAt()
		.setExpirationTime(Math.floor(claims.expiresAt / 1000))
		.sign(current.secret);
}

/**
 * The claims of a valid token, or a 401 that says what is wrong with it: `token_expired`,
 * `token_invalid` (bad signature, unknown key id, malformed).
 */
export async function verifyToken(env: Env, token: string): Promise<TokenClaims> {
	const keys = signingKeys(env.TOKEN_SIGNING_KEYS);
	try {
		const { payload } = await jwtVerify(
			token,
			(header) => {
				const key = keys.find((candidate) => candidate.kid === header.kid);
				if (!key) throw new errors.JWKSNoMatchingKey();
				return key.secret;
			},
			{ algorithms: ["HS256"], issuer: ISSUER, requiredClaims: ["jti", "exp"] },
		);
		const scopes = Scopes.safeParse(payload.scp);
		if (!scopes.success || typeof payload.ten !== "string" || typeof payload.jti !== "string" || typeof payload.exp !== "number") {
			throw new ApiError("token_invalid", "The token's claims are not ones this service issues");
		}
		return {
			id: payload.jti,
			tenant: payload.ten,
			scopes: scopes.data,
			agent: typeof payload.agt === "string" ? payload.agt : null,
			issuedBy: typeof payload.by === "string" ? payload.by : "unknown",
			chain: Array.isArray(payload.chn) ? payload.chn.filter((link): link is string => typeof link === "string") : [],
			expiresAt: payload.exp * 1000,
		};
	} catch (error) {
		if (error instanceof ApiError) throw error;
		if (error instanceof errors.JWTExpired) throw new ApiError("token_expired", "The token has expired; mint a new one");
		throw new ApiError("token_invalid", "The token's signature or form is invalid");
	}
}
