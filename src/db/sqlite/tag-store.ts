import type { Db } from './connection.js';
import type { SqliteAuditStore } from './audit-store.js';
import type { Seal, TagStore, VerifiedTag } from '../types.js';

interface Row { digest: string; verified_at: string; accepted_by: string | null; seen_digest: string | null }
export const toVerifiedTag = (r: Row): VerifiedTag => ({ digest: r.digest, verifiedAt: r.verified_at, acceptedBy: r.accepted_by, seenDigest: r.seen_digest });

/** Verified tags in SQLite. */
export class SqliteTagStore implements TagStore {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly audit: SqliteAuditStore,
  ) {
    this.s = {
      get: db.prepare('SELECT digest, verified_at, accepted_by, seen_digest FROM verified_tags WHERE upstream = ? AND repository = ? AND tag = ?'),
      put: db.prepare(`INSERT INTO verified_tags (upstream, repository, tag, digest, verified_at, accepted_by, seen_digest) VALUES (?, ?, ?, ?, ?, ?, NULL)
        ON CONFLICT (upstream, repository, tag) DO UPDATE SET digest = excluded.digest, verified_at = excluded.verified_at,
        accepted_by = excluded.accepted_by, seen_digest = NULL`),
      moved: db.prepare(`UPDATE verified_tags SET seen_digest = ? WHERE upstream = ? AND repository = ? AND tag = ?
        AND (seen_digest IS NULL OR seen_digest <> ?)`),
    };
  }

  async verified(upstream: string, repository: string, tag: string) {
    const row = this.s.get.get(upstream, repository, tag) as Row | undefined;
    return row && toVerifiedTag(row);
  }

  async markVerified(upstream: string, repository: string, tag: string, digest: string, at: string) {
    this.s.put.run(upstream, repository, tag, digest, at, null);
  }

  async noteMoved(upstream: string, repository: string, tag: string, digest: string) {
    return this.s.moved.run(digest, upstream, repository, tag, digest).changes > 0;
  }

  async accept(upstream: string, repository: string, tag: string, digest: string, at: string, by: string, seal: Seal) {
    return this.db.transaction(() => {
      this.s.put.run(upstream, repository, tag, digest, at, by);
      this.audit.appendInTx(seal);
      return toVerifiedTag(this.s.get.get(upstream, repository, tag) as Row);
    }).immediate();
  }
}
