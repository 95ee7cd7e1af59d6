import type pg from 'pg';
import type { HeldLease, LeaseStore } from '../types.js';
import { statement } from './statement.js';

const s = {
  // Takes a free or expired lease; returns a row only when this caller now holds it.
  take: statement<{ owner: string }>('lease_take', `INSERT INTO blob_fetches (digest, owner, temp_path, expires_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (digest) DO UPDATE SET owner = excluded.owner, temp_path = excluded.temp_path, expires_at = excluded.expires_at
    WHERE blob_fetches.expires_at < $5
    RETURNING owner`),
  holder: statement<{ owner: string; temp_path: string; expires_at: number }>('lease_holder',
    'SELECT owner, temp_path, expires_at FROM blob_fetches WHERE digest = $1'),
  renew: statement('lease_renew', 'UPDATE blob_fetches SET expires_at = $1 WHERE digest = $2 AND owner = $3'),
  release: statement('lease_release', 'DELETE FROM blob_fetches WHERE digest = $1 AND owner = $2'),
};

/** Download leases in PostgreSQL, shared by every replica and worker. */
export class PostgresLeaseStore implements LeaseStore {
  constructor(private readonly pool: pg.Pool) {}

  async acquire(digest: string, owner: string, tempPath: string, ttlMs: number): Promise<HeldLease | undefined> {
    const now = Date.now();
    if ((await s.take(this.pool, [digest, owner, tempPath, now + ttlMs, now])).rowCount) return undefined;
    // Read the holder in a statement of its own: a lease taken concurrently by another replica committed after
    // the INSERT's snapshot, so only a new statement sees it.
    const row = (await s.holder(this.pool, [digest])).rows[0];
    if (!row || row.owner === owner) return undefined;
    return { owner: row.owner, tempPath: row.temp_path };
  }

  async holder(digest: string): Promise<HeldLease | undefined> {
    const row = (await s.holder(this.pool, [digest])).rows[0];
    return row && row.expires_at >= Date.now() ? { owner: row.owner, tempPath: row.temp_path } : undefined;
  }

  async renew(digest: string, owner: string, ttlMs: number) {
    await s.renew(this.pool, [Date.now() + ttlMs, digest, owner]);
  }

  async release(digest: string, owner: string) {
    await s.release(this.pool, [digest, owner]);
  }
}
