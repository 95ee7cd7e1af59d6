import type { Db } from './database.js';

/** A download in progress elsewhere: follow `tempPath` until the blob lands in the store. */
export interface HeldLease {
  owner: string;
  tempPath: string;
}

/**
 * Leases on upstream blob downloads, shared by every process on the database: the first to ask downloads,
 * the others follow its temp file. A holder renews its lease while it downloads; one that dies stops
 * renewing, and its lease can be taken once it has expired.
 */
export class DownloadLeases {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      take: db.prepare(`INSERT INTO blob_fetches (digest, owner, temp_path, expires_at) VALUES (@digest, @owner, @tempPath, @expiresAt)
        ON CONFLICT (digest) DO UPDATE SET owner = excluded.owner, temp_path = excluded.temp_path, expires_at = excluded.expires_at
        WHERE blob_fetches.expires_at < @now`),
      holder: db.prepare('SELECT owner, temp_path, expires_at FROM blob_fetches WHERE digest = ?'),
      renew: db.prepare('UPDATE blob_fetches SET expires_at = ? WHERE digest = ? AND owner = ?'),
      release: db.prepare('DELETE FROM blob_fetches WHERE digest = ? AND owner = ?'),
    };
  }

  /**
   * Takes the lease (returns undefined) or names the live holder to follow. A holder that `isGone` says
   * has died (a killed process of this host) is replaced at once rather than when its lease expires.
   */
  acquire(digest: string, owner: string, tempPath: string, ttlMs: number, isGone: (holder: string) => boolean = () => false): HeldLease | undefined {
    const now = Date.now();
    this.s.take.run({ digest, owner, tempPath, expiresAt: now + ttlMs, now });
    const row = this.s.holder.get(digest) as { owner: string; temp_path: string } | undefined;
    if (!row || row.owner === owner) return undefined;
    if (isGone(row.owner)) {
      this.s.release.run(digest, row.owner);
      return this.acquire(digest, owner, tempPath, ttlMs, () => false);
    }
    return { owner: row.owner, tempPath: row.temp_path };
  }

  /** The live holder of a blob's lease, if any. */
  holder(digest: string): HeldLease | undefined {
    const row = this.s.holder.get(digest) as { owner: string; temp_path: string; expires_at: number } | undefined;
    return row && row.expires_at >= Date.now() ? { owner: row.owner, tempPath: row.temp_path } : undefined;
  }

  renew(digest: string, owner: string, ttlMs: number): void {
    this.s.renew.run(Date.now() + ttlMs, digest, owner);
  }

  release(digest: string, owner: string): void {
    this.s.release.run(digest, owner);
  }
}
