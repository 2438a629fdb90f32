import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common";

export const AcquireLeaseBody = z
	.object({
		holder: z.string().min(1).max(200).openapi({ description: "Who holds the lease, e.g. a replica id" }),
		ttlSeconds: z.number().int().min(1).max(3600).default(30),
		token: z.number().int().max(Number.MAX_SAFE_INTEGER).min(1).optional().openapi({ description: "Current token, to renew a held lease" }),
	})
	.strict()
	.openapi("AcquireLease");
export type AcquireLeaseBody = z.infer<typeof AcquireLeaseBody>;

export const Lease = z
	.object({
		holder: z.string(),
		token: z.number().int().max(Number.MAX_SAFE_INTEGER).openapi({ description: "Fencing token: send it as Lease-Token on every write" }),
		expiresAt: Timestamp,
	})
	.openapi("Lease");
export type Lease = z.infer<typeof Lease>;
