import type { Db } from './connection.js';
import type { HeldLease, LeaseStore } from '../types.js';

/** Download leases in SQLite: taking one is a single upsert that only replaces an expired lease. */
export class SqliteLeaseStore implements LeaseStore {
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

  async acquire(digest: string, owner: string, tempPath: string, ttlMs: number): Promise<HeldLease | undefined> {
    const now = Date.now();
    this.s.take.run({ digest, owner, tempPath, expiresAt: now + ttlMs, now });
    const row = this.s.holder.get(digest) as { owner: string; temp_path: string } | undefined;
    if (!row || row.owner === owner) return undefined;
    return { owner: row.owner, tempPath: row.temp_path };
  }

  async holder(digest: string): Promise<HeldLease | undefined> {
    const row = this.s.holder.get(digest) as { owner: string; temp_path: string; expires_at: number } | undefined;
    return row && row.expires_at >= Date.now() ? { owner: row.owner, tempPath: row.temp_path } : undefined;
  }

  async renew(digest: string, owner: string, ttlMs: number) {
    this.s.renew.run(Date.now() + ttlMs, digest, owner);
  }

  async release(digest: string, owner: string) {
    this.s.release.run(digest, owner);
  }
}
