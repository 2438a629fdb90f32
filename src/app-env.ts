import type { Scopes } from "./schemas/scopes";

/** Who is calling: the tenant every read and write is scoped to, and what they may do. */
export interface Principal {
	tenant: string;
	/** `bootstrap` (the ADMIN_API_KEY secret), `key:<id>` or `token:<id>`: the name the audit trail records. */
	id: string;
	scopes: Scopes;
	/** Stamped on every read and write in the audit trail. */
	agent: string | null;
	/** The credentials a token was minted from, oldest first: revoking any of them revokes it. */
	chain: string[];
	/** When a token stops being accepted (ms); null for keys. */
	expiresAt: number | null;
	/** The request this principal is making, for the audit trail. */
	requestId: string | null;
}

export interface AppEnv {
	Bindings: Env;
	Variables: {
		requestId: string;
		principal: Principal;
	};
}
