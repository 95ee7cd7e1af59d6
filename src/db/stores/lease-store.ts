import type { HeldLease, LeaseStore } from '../types.js';
import { query } from '../query/compiled.js';
import type { Executor } from '../query/steps.js';

/** Download leases, shared by every process on the database: taking one is a single upsert. */
export class SqlLeaseStore implements LeaseStore {
  private readonly q;

  constructor(private readonly x: Executor) {
    const qb = x.qb;
    this.q = {
      // Takes a free or expired lease; returns a row only when this caller now holds it.
      take: query((a: { digest: string; owner: string; tempPath: string; expiresAt: number; now: number }) =>
        qb.insertInto('blob_fetches')
          .values({ digest: a.digest, owner: a.owner, temp_path: a.tempPath, expires_at: a.expiresAt })
          .onConflict((oc) => oc.column('digest')
            .doUpdateSet((eb) => ({ owner: eb.ref('excluded.owner'), temp_path: eb.ref('excluded.temp_path'), expires_at: eb.ref('excluded.expires_at') }))
            .where('blob_fetches.expires_at', '<', a.now))
          .returning('owner')),
      holder: query((a: { digest: string }) =>
        qb.selectFrom('blob_fetches').select(['owner', 'temp_path', 'expires_at']).where('digest', '=', a.digest)),
      renew: query((a: { digest: string; owner: string; expiresAt: number }) =>
        qb.updateTable('blob_fetches').set({ expires_at: a.expiresAt }).where('digest', '=', a.digest).where('owner', '=', a.owner)),
      release: query((a: { digest: string; owner: string }) =>
        qb.deleteFrom('blob_fetches').where('digest', '=', a.digest).where('owner', '=', a.owner)),
    };
  }

  async acquire(digest: string, owner: string, tempPath: string, ttlMs: number): Promise<HeldLease | undefined> {
    const now = Date.now();
    if (await this.x.get(this.q.take, { digest, owner, tempPath, expiresAt: now + ttlMs, now })) return undefined;
    // Read the holder in a statement of its own: a lease taken concurrently by another replica committed after
    // the INSERT's snapshot (PostgreSQL), so only a new statement sees it.
    const row = await this.x.get(this.q.holder, { digest });
    if (!row || row.owner === owner) return undefined;
    return { owner: row.owner, tempPath: row.temp_path };
  }

  async holder(digest: string): Promise<HeldLease | undefined> {
    const row = await this.x.get(this.q.holder, { digest });
    return row && row.expires_at >= Date.now() ? { owner: row.owner, tempPath: row.temp_path } : undefined;
  }

  async renew(digest: string, owner: string, ttlMs: number) {
    await this.x.run(this.q.renew, { digest, owner, expiresAt: Date.now() + ttlMs });
  }

  async release(digest: string, owner: string) {
    await this.x.run(this.q.release, { digest, owner });
  }
}
