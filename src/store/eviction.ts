import type { Db } from '../db/database.js';
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
  private readonly s;
  private running: Promise<EvictionResult> | undefined;
  private again = false;
  private readonly protectMs: number;
  private readonly low: number;

  constructor(
    db: Db,
    private readonly store: BlobStore,
    private readonly opts: EvictionOptions,
    private readonly log: Logger,
  ) {
    this.protectMs = opts.protectMs ?? DEFAULT_PROTECT_MS;
    this.low = opts.lowWatermark ?? 0.9;
    this.s = {
      total: db.prepare('SELECT COALESCE(SUM(size), 0) AS total FROM blobs'),
      candidates: db.prepare(`SELECT digest, size FROM blobs
        WHERE last_access < @before
          AND digest NOT IN (
            SELECT bl.digest FROM blob_links bl WHERE bl.manifest IN (
              SELECT digest FROM audit_events
              WHERE kind = 'pull.manifest' AND status = 200 AND digest IS NOT NULL AND time >= @since))
        ORDER BY last_access ASC LIMIT ${BATCH}`),
      remove: db.prepare('DELETE FROM blobs WHERE digest = ? AND last_access < ?'),
    };
  }

  /** Bytes of blobs the index holds. */
  totalBytes(): number {
    return (this.s.total.get() as { total: number }).total;
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
    let total = this.totalBytes();
    let evicted = 0;
    let freedBytes = 0;
    if (total <= this.opts.maxSizeBytes) return { evicted, freedBytes, totalBytes: total };
    const target = Math.floor(this.opts.maxSizeBytes * this.low);
    const now = Date.now();
    const before = now - this.protectMs;
    const since = new Date(before).toISOString();
    while (total > target) {
      const batch = this.s.candidates.all({ before, since }) as { digest: string; size: number }[];
      if (batch.length === 0) break;
      for (const { digest, size } of batch) {
        if (total <= target) break;
        // The row goes first, and only if nobody touched the blob since it was picked (checked and deleted
        // in one statement); then the file.
        if (this.s.remove.run(digest, before).changes === 0) continue;
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
