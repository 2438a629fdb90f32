import type { Role } from "./schemas/keys";

/** Who is calling: the tenant every read and write is scoped to, and what they may do. */
export interface Principal {
	tenant: string;
	role: Role;
	/** The minted key's id, or "bootstrap" for the ADMIN_API_KEY secret. */
	keyId: string;
}

export interface AppEnv {
	Bindings: Env;
	Variables: {
		requestId: string;
		principal: Principal;
	};
}
