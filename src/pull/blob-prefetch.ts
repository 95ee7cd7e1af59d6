import type { BlobStore } from '../store/blob-store.js';
import type { Logger } from '../logger.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Target } from '../upstream/target.js';
import { BlobFetcher } from './blob-fetcher.js';
import { PassThroughBlob } from './pass-through.js';

/** Downloads a prefetch runs at once per manifest: the first layers a client asks for get most of the bandwidth. */
const CONCURRENT_PER_MANIFEST = 4;
/** Manifest digests remembered as prefetched, so a hot manifest costs a set lookup, not a stat per blob. */
const REMEMBERED = 10_000;

/**
 * Starts downloading into the cache the blobs of a manifest as soon as it is served, instead of waiting for
 * the client to ask for its config and then its layers: the client's requests join the running downloads
 * (single-flight), so the round trips client → proxy → upstream of a cold pull overlap instead of adding up.
 * Only the blobs a served (so allowed and audited) manifest lists are fetched, each checked against its
 * digest like any download; serving them still takes each blob request's own decision and audit event. Skipped
 * when the store's disk is short of room: a prefetch never displaces a client's download.
 */
export class BlobPrefetch {
  private readonly started = new Set<string>();

  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobFetcher,
    private readonly log: Logger,
  ) {}

  /** Once per manifest digest (per process): fetches what of `blobs` the store lacks, in manifest order. */
  start(target: Target, manifestDigest: string, blobs: readonly Descriptor[]): void {
    if (blobs.length === 0 || this.started.has(manifestDigest)) return;
    if (this.started.size >= REMEMBERED) this.started.delete(this.started.values().next().value!);
    this.started.add(manifestDigest);
    void this.run(target, blobs).catch((err: unknown) => {
      this.log.debug('blob prefetch stopped', { image: target.canonical, manifest: manifestDigest, error: String(err) });
    });
  }

  private async run(target: Target, blobs: readonly Descriptor[]): Promise<void> {
    const missing: Descriptor[] = [];
    for (const b of blobs) if ((await this.store.size(b.digest as Digest)) === undefined) missing.push(b);
    if (missing.length === 0) return;
    const needed = missing.reduce((n, b) => n + b.size, 0);
    const free = await this.store.freeBytes();
    if (free !== undefined && free - needed < 4 * BlobFetcher.HEADROOM_BYTES) return;
    const queue = [...missing];
    const worker = async () => {
      for (let b = queue.shift(); b; b = queue.shift()) await this.fetchOne(target, b);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_PER_MANIFEST, queue.length) }, worker));
  }

  private async fetchOne(target: Target, b: Descriptor): Promise<void> {
    try {
      const download = await this.blobs.fetch(target, b.digest as Digest, b.size);
      // The disk filled up meanwhile: a pass-through serves one client; leave it to the client's own request.
      if (download instanceof PassThroughBlob) return download.abandon();
      await download.settled();
    } catch (err) {
      // The client's own request for this blob fetches it again and reports what goes wrong.
      this.log.debug('blob prefetch failed', { image: target.canonical, digest: b.digest, error: String(err) });
    }
  }
}
