import { sha256, type Digest } from '../../../src/oci/digest.js';
import type { ArtifactSource } from '../../../src/verify/types.js';

/**
 * An in-memory ArtifactSource for faults a registry cannot easily produce on demand (an upstream error on
 * one request, a declared size that lies). Counts fetches so tests can assert what was never downloaded.
 */
export class MemorySource implements ArtifactSource {
  readonly manifests = new Map<string, { bytes: Buffer; digest: Digest; mediaType: string }>();
  readonly blobs = new Map<string, Buffer>();
  readonly failing = new Set<string>();
  referrersIndex: Buffer | null = null;
  /** Further pages of the referrers API, by link; the first page links to `page-1`, that one to `page-2`… */
  referrersPages: Buffer[] = [];
  referrersRequests = 0;
  blobFetches = 0;

  putBlob(bytes: Buffer | string): { digest: Digest; size: number } {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    this.blobs.set(digest, b);
    return { digest, size: b.length };
  }

  putManifest(doc: unknown, tag?: string): { digest: Digest; bytes: Buffer } {
    const bytes = Buffer.from(JSON.stringify(doc));
    const digest = sha256(bytes);
    const mediaType = (doc as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    this.manifests.set(digest, { bytes, digest, mediaType });
    if (tag) this.manifests.set(tag, { bytes, digest, mediaType });
    return { digest, bytes };
  }

  async manifest(reference: string) {
    if (this.failing.has(reference)) throw new Error(`upstream answered 503 for ${reference}`);
    return this.manifests.get(reference) ?? null;
  }

  async blob(digest: Digest, maxBytes: number) {
    this.blobFetches++;
    if (this.failing.has(digest)) throw new Error(`upstream answered 503 for ${digest}`);
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`blob ${digest} unknown`);
    if (b.length > maxBytes) throw new Error(`blob ${digest} exceeds ${maxBytes} bytes`);
    return b;
  }

  async referrers(_subject: Digest, next?: string) {
    this.referrersRequests++;
    if (this.failing.has('referrers')) throw new Error('upstream answered 500 for referrers');
    const at = next === undefined ? 0 : Number(next.slice('page-'.length));
    const bytes = at === 0 ? this.referrersIndex : this.referrersPages[at - 1];
    if (!bytes) return null;
    return { bytes, ...(at < this.referrersPages.length ? { next: `page-${at + 1}` } : {}) };
  }
}
