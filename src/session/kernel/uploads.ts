/**
 * R2 objects a write uploads before its commit. A committed row never points at a missing
 * object (upload first, commit second); this module makes sure a refused commit does not
 * leave its uploads behind either, without deleting anything a committed row or another
 * in-flight write still needs:
 * - an uploaded key is swept after a refused commit only if no committed row references it
 *   and no other write in flight has uploaded it too (keys are content-addressed, so two
 *   writes can share one);
 * - an upload of a key that is being swept waits for the sweep, so "already there, skip
 *   the upload" can never be answered by an object about to disappear.
 */
import { archiveKey, type BlobStore, blobKey, BlobStoreUnavailable, hashed, type StoredBlob } from "../../blobs/blob-store";

/** The object's in-memory view of uploads in flight and sweeps under way. */
export class UploadLedger {
	readonly #holders = new Map<string, number>();
	readonly #sweeps = new Map<string, Promise<void>>();

	async hold(key: string): Promise<void> {
		await this.#sweeps.get(key);
		this.#holders.set(key, (this.#holders.get(key) ?? 0) + 1);
	}

	release(key: string): void {
		const count = (this.#holders.get(key) ?? 1) - 1;
		if (count <= 0) this.#holders.delete(key);
		else this.#holders.set(key, count);
	}

	isHeld(key: string): boolean {
		return this.#holders.has(key);
	}

	/** Whether any write is between an upload and its commit or sweep. */
	get busy(): boolean {
		return this.#holders.size > 0 || this.#sweeps.size > 0;
	}

	/** Runs a deletion of `keys`, known to uploads that start meanwhile. */
	sweep(keys: string[], remove: () => Promise<void>): Promise<void> {
		const done = remove().finally(() => {
			for (const key of keys) if (this.#sweeps.get(key) === done) this.#sweeps.delete(key);
		});
		for (const key of keys) this.#sweeps.set(key, done);
		return done;
	}
}

/** One write's uploads: what prepare() stores in R2 goes through here. */
export class WriteUploads {
	readonly #keys: string[] = [];
	#released = false;

	constructor(
		private readonly store: BlobStore,
		private readonly ledger: UploadLedger,
		private readonly owner: { tenant: string; sessionId: string },
	) {}

	get keys(): readonly string[] {
		return this.#keys;
	}

	async #hold(key: string): Promise<void> {
		await this.ledger.hold(key);
		this.#keys.push(key);
	}

	/** Stores content under its hash in the session's prefix. */
	async putContent(text: string): Promise<StoredBlob> {
		const content = await hashed(text);
		await this.#hold(blobKey(this.owner.tenant, this.owner.sessionId, content.sha256));
		await this.store.putHashed(blobKey(this.owner.tenant, this.owner.sessionId, content.sha256), content);
		return { sha256: content.sha256, bytes: content.bytes.length };
	}

	/** Writes a compaction archive (JSONL, and a markdown transcript beside it); returns the JSONL key. */
	async putArchive(name: string, jsonl: string, markdown: string): Promise<string> {
		await this.#hold(archiveKey(this.owner.tenant, this.owner.sessionId, `${name}.jsonl`));
		await this.#hold(archiveKey(this.owner.tenant, this.owner.sessionId, `${name}.md`));
		return this.store.putArchive(this.owner.tenant, this.owner.sessionId, name, jsonl, markdown);
	}

	/** Copies another session's blob into this session's prefix (a fork owns its content). */
	async copyFrom(fromSession: string, sha256: string): Promise<void> {
		await this.#hold(blobKey(this.owner.tenant, this.owner.sessionId, sha256));
		await this.store.copyBlob(this.owner.tenant, fromSession, this.owner.sessionId, sha256);
	}

	/** Lets go of the keys once the write committed or was refused; safe to call twice. */
	release(): void {
		if (this.#released) return;
		this.#released = true;
		for (const key of this.#keys) this.ledger.release(key);
	}

	/**
	 * After a refused commit: deletes what this write uploaded that nothing else needs. Best
	 * effort: if R2 is down, an orphan stays (harmless; the session's purge sweeps its prefix).
	 */
	async sweepUnreferenced(referenced: (key: string) => boolean): Promise<void> {
		this.release();
		const orphans = [...new Set(this.#keys)].filter((key) => !this.ledger.isHeld(key) && !referenced(key));
		await this.ledger.sweep(orphans, () => this.store.deleteKeys(orphans)).catch((error: unknown) => {
			if (!(error instanceof BlobStoreUnavailable)) throw error;
		});
	}
}
