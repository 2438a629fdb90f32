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
