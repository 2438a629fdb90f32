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

export interface HashedContent {
	bytes: Uint8Array;
	sha256: string;
}

/** The content's bytes and their SHA-256, which names the blob. */
export async function hashed(text: string): Promise<HashedContent> {
	const bytes = encoder.encode(text);
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return { bytes, sha256: [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("") };
}

/** Thrown when R2 cannot be reached; routes answer 503 and nothing is committed. */
export class BlobStoreUnavailable extends Error {
	override name = "BlobStoreUnavailable";
}

export function archiveKey(tenant: string, sessionId: string, name: string): string {
	return `${sessionPrefix(tenant, sessionId)}archives/${name}`;
}

export class BlobStore {
	constructor(private readonly bucket: R2Bucket) {}

	/**
	 * Stores hashed content at its key, skipping the upload when it is already there. Writes go
	 * through WriteUploads (session/kernel/uploads.ts), which records the key first.
	 */
	async putHashed(key: string, content: HashedContent): Promise<void> {
		try {
			if (!(await this.bucket.head(key))) {
				await this.bucket.put(key, content.bytes, {
					httpMetadata: { contentType: "application/json" },
					sha256: content.sha256,
				});
			}
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 write failed: ${error instanceof Error ? error.message : String(error)}`);
		}
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

	/** Writes a compaction archive (JSONL, plus a readable markdown transcript beside it). */
	async putArchive(tenant: string, sessionId: string, name: string, jsonl: string, markdown: string): Promise<string> {
		const key = archiveKey(tenant, sessionId, `${name}.jsonl`);
		try {
			await this.bucket.put(key, jsonl, { httpMetadata: { contentType: "application/x-ndjson" } });
			await this.bucket.put(archiveKey(tenant, sessionId, `${name}.md`), markdown, {
				httpMetadata: { contentType: "text/markdown; charset=utf-8" },
			});
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 write failed: ${error instanceof Error ? error.message : String(error)}`);
		}
		return key;
	}

	/** The text at a key of this session's own prefix (archives are addressed by their full key). */
	async getText(key: string): Promise<string | null> {
		try {
			const object = await this.bucket.get(key);
			return object ? await object.text() : null;
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 read failed: ${error instanceof Error ? error.message : String(error)}`);
		}
	}

	/** Copies a blob from one session's prefix to another's (forks own their content). */
	async copyBlob(tenant: string, fromSession: string, toSession: string, sha256: string): Promise<void> {
		try {
			const object = await this.bucket.get(blobKey(tenant, fromSession, sha256));
			if (!object) throw new BlobStoreUnavailable(`blob ${sha256} is missing from session ${fromSession}`);
			await this.bucket.put(blobKey(tenant, toSession, sha256), await object.arrayBuffer(), {
				httpMetadata: { contentType: "application/json" },
				sha256,
			});
		} catch (error) {
			if (error instanceof BlobStoreUnavailable) throw error;
			throw new BlobStoreUnavailable(`R2 copy failed: ${error instanceof Error ? error.message : String(error)}`);
		}
	}

	/** Deletes the given keys; safe to repeat. */
	async deleteKeys(keys: string[]): Promise<void> {
		if (keys.length === 0) return;
		try {
			await this.bucket.delete(keys);
		} catch (error) {
			throw new BlobStoreUnavailable(`R2 delete failed: ${error instanceof Error ? error.message : String(error)}`);
		}
	}

	/** Deletes every object of one session; safe to repeat. Returns how many were deleted. */
	/** How many objects the session's prefix holds. */
	async countSession(tenant: string, sessionId: string): Promise<number> {
		let count = 0;
		let cursor: string | undefined;
		do {
			const page = await this.bucket.list({ prefix: sessionPrefix(tenant, sessionId), limit: 1000, cursor });
			count += page.objects.length;
			cursor = page.truncated ? page.cursor : undefined;
		} while (cursor);
		return count;
	}

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

/** What an object key of a session's prefix names: a content blob or a compaction archive. */
export function describeKey(key: string): { kind: "blob"; sha256: string } | { kind: "archive"; jsonlKey: string } | null {
	const blob = /\/blobs\/([0-9a-f]{64})$/.exec(key);
	if (blob) return { kind: "blob", sha256: blob[1] };
	if (key.includes("/archives/")) return { kind: "archive", jsonlKey: key.replace(/\.md$/, ".jsonl") };
	return null;
}
