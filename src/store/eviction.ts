import type { CacheStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { Digest } from '../oci/digest.js';
import type { BlobStore } from './blob-store.js';

export interface EvictionOptions {
  maxSizeBytes: number;
  /** Blobs used this recently, or referenced by a manifest pulled this recently, are never evicted. */
  protectMs?: number;
  /** Evict down to this fraction of the limit, so one new blob does not trigger another round. */
  lowWatermark?: number;
}

export interface EvictionResult {
  evicted: number;
  freedBytes: number;
  totalBytes: number;
}

const DEFAULT_PROTECT_MS = 10 * 60_000;
const BATCH = 200;

/**
 * Least-recently-used eviction of cached blobs once the store grows past `storage.maxSize`.
 *
 * A pull in progress is never broken: its manifest was pulled recently (audited `pull.manifest` events), so
 * every blob it references is protected, as is every blob read or written within the protection window.
 * Readers that already opened a file keep reading it (POSIX unlink semantics).
 */
export class Evictor {
  private running: Promise<EvictionResult> | undefined;
  private again = false;
  private readonly protectMs: number;
  private readonly low: number;

  constructor(
    private readonly cache: CacheStore,
    private readonly store: BlobStore,
    private readonly opts: EvictionOptions,
    private readonly log: Logger,
  ) {
    this.protectMs = opts.protectMs ?? DEFAULT_PROTECT_MS;
    this.low = opts.lowWatermark ?? 0.9;
  }

  /** Bytes of blobs the index holds. */
  totalBytes(): Promise<number> {
    return this.cache.totalBlobBytes();
  }

  /** Runs eviction soon; calls while one runs coalesce into one more round. */
  schedule(): Promise<EvictionResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async loop(): Promise<EvictionResult> {
    let result: EvictionResult;
    do {
      this.again = false;
      result = await this.evictOnce();
    } while (this.again);
    return result;
  }

  private async evictOnce(): Promise<EvictionResult> {
    let total = await this.totalBytes();
    let evicted = 0;
    let freedBytes = 0;
    if (total <= this.opts.maxSizeBytes) return { evicted, freedBytes, totalBytes: total };
    const target = Math.floor(this.opts.maxSizeBytes * this.low);
    const now = Date.now();
    const before = now - this.protectMs;
    const since = new Date(before).toISOString();
    while (total > target) {
      const batch = await this.cache.evictionCandidates(before, since, BATCH);
      if (batch.length === 0) break;
      for (const { digest, size } of batch) {
        if (total <= target) break;
        // The row goes first, and only if nobody touched the blob since it was picked (checked and deleted
        // in one statement); then the file.
        if (!(await this.cache.removeIdleBlob(digest, before))) continue;
        await this.store.remove(digest as Digest);
        total -= size;
        freedBytes += size;
        evicted++;
      }
      if (batch.length < BATCH) break;
    }
    if (total > this.opts.maxSizeBytes) {
      this.log.warn('cache is over storage.maxSize and every remaining blob is in recent use', {
        totalBytes: total, maxSizeBytes: this.opts.maxSizeBytes,
      });
    }
    if (evicted > 0) this.log.info('evicted least recently used blobs', { evicted, freedBytes, totalBytes: total });
    return { evicted, freedBytes, totalBytes: total };
  }
}
