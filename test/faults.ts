/**
 * Fault injection around real bindings: while `outage.down` is true every call fails the way
 * an unreachable dependency does; otherwise calls go to the real Miniflare binding.
 */
export interface Outage {
	down: boolean;
}

function failing<T extends object>(target: T, outage: Outage, name: string): T {
	return new Proxy(target, {
		get(object, property) {
			const value = Reflect.get(object, property, object);
			if (typeof value !== "function") return value;
			return (...args: unknown[]) => {
				if (outage.down) throw new Error(`${name}: injected outage`);
				return value.apply(object, args);
			};
		},
	});
}

export function failingD1(database: D1Database, outage: Outage): D1Database {
	return failing(database, outage, "D1_ERROR");
}

export function failingR2(bucket: R2Bucket, outage: Outage): R2Bucket {
	return failing(bucket, outage, "R2_ERROR");
}

/**
 * Holds the first R2 call that matches until the test releases it, so a test can run other
 * requests while one write sits at that await inside the object: the interleavings a busy
 * session sees, made deterministic.
 */
export class PauseGate {
	#match: ((method: string, key: string) => boolean) | null;
	#release!: () => void;
	#arrived!: () => void;
	#finished!: () => void;
	readonly #released = new Promise<void>((resolve) => {
		this.#release = resolve;
	});
	/** Settles when a call has reached the gate and is being held. */
	readonly reached = new Promise<void>((resolve) => {
		this.#arrived = resolve;
	});

	/** Settles when the held call has been let through and has finished. */
	readonly completed = new Promise<void>((resolve) => {
		this.#finished = resolve;
	});

	constructor(match: (method: string, key: string) => boolean) {
		this.#match = match;
	}

	release(): void {
		this.#release();
	}

	/** Holds the call if it is the first to match; returns what to call once it has finished. */
	async pass(method: string, key: string): Promise<() => void> {
		if (!this.#match?.(method, key)) return () => undefined;
		this.#match = null;
		this.#arrived();
		await this.#released;
		return this.#finished;
	}
}

function keyOf(method: string, args: unknown[]): string {
	const [first] = args;
	if (method === "list") return (first as R2ListOptions | undefined)?.prefix ?? "";
	return Array.isArray(first) ? first.join(",") : String(first);
}

/** The real bucket, with every call passing `gate` first. */
export function pausingR2(bucket: R2Bucket, gate: PauseGate): R2Bucket {
	return new Proxy(bucket, {
		get(object, property) {
			const value = Reflect.get(object, property, object);
			if (typeof value !== "function") return value;
			return async (...args: unknown[]) => {
				const finished = await gate.pass(String(property), keyOf(String(property), args));
				try {
					return await value.apply(object, args);
				} finally {
					finished();
				}
			};
		},
	});
}
