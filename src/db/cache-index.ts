import { createHash } from 'node:crypto';
import { OciError } from '../oci/errors.js';
import type { BlobLink, CacheStore, EvidenceKey, ManifestMeta } from './types.js';

export type { BlobLink, EvidenceKey, ManifestMeta } from './types.js';

const KNOWN_LIMIT = 100_000;
const TOUCH_INTERVAL_MS = 60_000;
/**
 * A served manifest rewrites its blob links at most this often, so the sweep (storage.linkRetention, at least
 * a day) never removes links that a process remembers as written.
 */
export const LINK_REFRESH_MS = 60 * 60_000;
const SWEEP_BATCH = 10_000;

/**
 * What the proxy has cached (tags, manifests, blob links, evidence), over whichever database holds it. Facts
 * that only ever become true are remembered in memory, so a hot pull does not ask the database again.
 */
export class CacheIndex {
  /** Facts that only ever become true (a digest is in a repository, a manifest's blobs are linked): remembered. */
  private readonly known = new Set<string>();
  private readonly touched = new Map<string, number>();
  /** When this process last wrote a manifest's links (by manifest, kind and blob list). */
  private readonly linked = new Map<string, number>();

  constructor(private readonly store: CacheStore) {}

  getTag(upstream: string, repository: string, tag: string): Promise<{ digest: string; checkedAt: number } | undefined> {
    return unavailable(this.store.getTag(upstream, repository, tag));
  }

  putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt = Date.now()): Promise<void> {
    return unavailable(this.store.putTag(upstream, repository, tag, digest, checkedAt));
  }

  listTags(upstream: string, repository: string): Promise<string[]> {
    return unavailable(this.store.listTags(upstream, repository));
  }

  getManifest(digest: string): Promise<ManifestMeta | undefined> {
    return unavailable(this.store.getManifest(digest));
  }

  /** Records a manifest as present in a repository (its bytes are already in the store). */
  async putManifest(upstream: string, repository: string, meta: ManifestMeta, children: string[]): Promise<void> {
    await unavailable(this.store.putManifest(upstream, repository, meta, children, Date.now()));
    this.remember(`r\0${upstream}\0${repository}\0${meta.digest}`);
  }

  async inRepository(upstream: string, repository: string, digest: string): Promise<boolean> {
    const key = `r\0${upstream}\0${repository}\0${digest}`;
    if (this.known.has(key)) return true;
    const found = await unavailable(this.store.inRepository(upstream, repository, digest));
    if (found) this.remember(key);
    return found;
  }

  private remember(key: string): void {
    if (this.known.size >= KNOWN_LIMIT) this.known.clear();
    this.known.add(key);
  }

  parents(upstream: string, repository: string, child: string): Promise<string[]> {
    return unavailable(this.store.parents(upstream, repository, child));
  }

  /**
   * Makes a manifest's blobs servable in a repository under the decision of `manifest` (called only for a
   * manifest that is served). `viaArtifact` marks links from a signature/attestation/SBOM artifact, where
   * `manifest` is the image the artifact is about. Rewritten at most once per LINK_REFRESH_MS, which keeps
   * the links of manifests still pulled out of the sweep.
   */
  async linkBlobs(upstream: string, repository: string, manifest: string, blobs: { digest: string; size: number }[], viaArtifact = false): Promise<void> {
    if (blobs.length === 0) return;
    const list = createHash('sha256').update(blobs.map((b) => b.digest).join(',')).digest('hex');
    const key = `${upstream}\0${repository}\0${manifest}\0${viaArtifact ? 1 : 0}\0${list}`;
    const now = Date.now();
    const last = this.linked.get(key);
    if (last !== undefined && now - last < LINK_REFRESH_MS) return;
    await unavailable(this.store.linkBlobs(upstream, repository, manifest, blobs, viaArtifact, now));
    if (this.linked.size >= KNOWN_LIMIT) this.linked.clear();
    this.linked.set(key, now);
  }

  /**
   * Removes blob links no served manifest has rewritten for `retentionMs` (at least a day): those of manifests
   * denied, purged or simply no longer pulled. The next served pull of such a manifest links them again.
   * Deletes in batches, so other writers get the database in between. Returns how many went.
   */
  async sweepLinks(retentionMs: number, now = Date.now()): Promise<number> {
    const before = now - Math.max(retentionMs, 2 * LINK_REFRESH_MS);
    let removed = 0;
    for (;;) {
      const n = await unavailable(this.store.sweepLinks(before, SWEEP_BATCH));
      removed += n;
      if (n < SWEEP_BATCH) return removed;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** The manifests of this repository that reference the blob, with the size they declare. */
  blobLinks(upstream: string, repository: string, digest: string): Promise<BlobLink[]> {
    return unavailable(this.store.blobLinks(upstream, repository, digest));
  }

  linksAnywhere(digest: string): Promise<{ upstream: string; repository: string; manifest: string }[]> {
    return unavailable(this.store.linksAnywhere(digest));
  }

  recordBlob(digest: string, size: number): Promise<void> {
    return unavailable(this.store.recordBlob(digest, size, Date.now()));
  }

  /**
   * Records a cache hit for eviction; at most once a minute per blob, so hits do not each cost a write.
   * Not awaited by pulls: a lost touch only makes the blob look a little older to eviction.
   */
  touchBlob(digest: string, onError?: (err: unknown) => void): void {
    const now = Date.now();
    const last = this.touched.get(digest);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    if (this.touched.size >= KNOWN_LIMIT) this.touched.clear();
    this.touched.set(digest, now);
    this.store.touchBlob(digest, now).catch((err: unknown) => {
      this.touched.delete(digest);
      onError?.(err);
    });
  }

  /** Forgets a repository's tags (the next pull revalidates upstream); returns its manifest digests. */
  forgetRepository(upstream: string, repository: string): Promise<{ tags: number; manifests: string[] }> {
    return unavailable(this.store.forgetRepository(upstream, repository));
  }

  /** Drops cached evidence for digests, so they are verified again on their next pull. */
  forgetEvidence(digests: readonly string[]): Promise<number> {
    return digests.length === 0 ? Promise.resolve(0) : unavailable(this.store.forgetEvidence(digests));
  }

  /** Drops a stored file's accounting row (blobs) before its file is removed. */
  async forgetContent(digest: string): Promise<void> {
    await unavailable(this.store.forgetContent(digest));
    this.touched.delete(digest);
  }

  getEvidence(key: EvidenceKey): Promise<{ json: string; expiresAt: number } | undefined> {
    return unavailable(this.store.getEvidence(key));
  }

  /** Stores evidence with the vulnerability ids its scans list (see `scannedVulnerabilityIds`). */
  putEvidence(key: EvidenceKey, json: string, expiresAt: number, vulnerabilities: readonly string[]): Promise<void> {
    return unavailable(this.store.putEvidence(key, json, expiresAt, vulnerabilities));
  }
}

/** A database that cannot answer makes the request fail closed with 503 UNAVAILABLE, not a 500. */
function unavailable<T>(pending: Promise<T>): Promise<T> {
  return pending.catch((err: unknown) => {
    throw err instanceof OciError ? err : new OciError('UNAVAILABLE', 'the database cannot be reached; refusing to serve');
  });
}
