/**
 * R2 adapter. Every key lives under the tenant's prefix and the session's, so a principal can
 * only ever address its own tenant's objects and a session's purge is one prefix sweep:
 *   t/<tenant>/s/<session>/blobs/<sha256>
 * Keys are content addressed, so re-writing the same content (a retry) is harmless.
 */
export interface StoredBlob {
	sha256: string;
	bytes: number;
}

const encoder = new TextEncoder();

export function sessionPrefix(tenant: string, sessionId: string): string {
	return `t/${tenant}/s/${sessionId}/`;
}

export function blobKey(tenant: string, sessionId: string, sha256: string): string {
	return `${sessionPrefix(tenant, sessionId)}blobs/${sha256}`;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Thrown when R2 cannot be reached; routes answer 503 and nothing is committed. */
export class BlobStoreUnavailable extends Error {
	override name = "BlobStoreUnavailable";
}

export class BlobStore {
	constructor(private readonly bucket: R2Bucket) {}

	/** Stores the text under its hash; skips the upload when the same content is already there. */
	async put(tenant: string, sessionId: string, text: string): Promise<StoredBlob> {
		const bytes = encoder.encode(text);
		const sha256 = await sha256Hex(bytes);
		const key = blobKey(tenant, sessionId, sha256);
		try {
			if (!(await this.bucket.head(key))) {
				await this.bucket.put(key, bytes, {
					httpMetadata: { contentType: "application/json" },
					sha256,
				});
			}
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 write failed: ${error instanceof Error ? error.message : String(error)}`);
		}
		return { sha256, bytes: bytes.length };
	}

	/** The stored JSON text, or null when there is no such blob for this tenant and session. */
	async get(tenant: string, sessionId: string, sha256: string): Promise<string | null> {
		try {
			const object = await this.bucket.get(blobKey(tenant, sessionId, sha256));
			return object ? await object.text() : null;
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 read failed: ${error instanceof Error ? error.message : String(error)}`);
		}
	}

	/** Deletes every object of one session; safe to repeat. Returns how many were deleted. */
	async deleteSession(tenant: string, sessionId: string): Promise<number> {
		const prefix = sessionPrefix(tenant, sessionId);
		let deleted = 0;
		for (;;) {
			// Always list from the start: what was deleted is gone, so this converges.
			const page = await this.bucket.list({ prefix, limit: 1000 });
			if (page.objects.length === 0) return deleted;
			await this.bucket.delete(page.objects.map((object) => object.key));
			deleted += page.objects.length;
		}
	}
}
