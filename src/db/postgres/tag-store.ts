import type pg from 'pg';
import type { Seal, TagStore, VerifiedTag } from '../types.js';
import { appendInTx, lockChain } from './audit-store.js';
import { inTransaction } from './pool.js';
import { statement } from './statement.js';

interface Row { digest: string; verified_at: string; accepted_by: string | null; seen_digest: string | null }
const toVerifiedTag = (r: Row): VerifiedTag => ({ digest: r.digest, verifiedAt: r.verified_at, acceptedBy: r.accepted_by, seenDigest: r.seen_digest });

const s = {
  get: statement<Row>('tags_get', 'SELECT digest, verified_at, accepted_by, seen_digest FROM verified_tags WHERE upstream = $1 AND repository = $2 AND tag = $3'),
  put: statement<Row>('tags_put', `INSERT INTO verified_tags (upstream, repository, tag, digest, verified_at, accepted_by, seen_digest)
    VALUES ($1, $2, $3, $4, $5, $6, NULL)
    ON CONFLICT (upstream, repository, tag) DO UPDATE SET digest = excluded.digest, verified_at = excluded.verified_at,
    accepted_by = excluded.accepted_by, seen_digest = NULL RETURNING digest, verified_at, accepted_by, seen_digest`),
  moved: statement('tags_moved', `UPDATE verified_tags SET seen_digest = $1 WHERE upstream = $2 AND repository = $3 AND tag = $4
    AND (seen_digest IS NULL OR seen_digest <> $1)`),
};

/** Verified tags in PostgreSQL. */
export class PostgresTagStore implements TagStore {
  constructor(private readonly pool: pg.Pool) {}

  async verified(upstream: string, repository: string, tag: string) {
    const row = (await s.get(this.pool, [upstream, repository, tag])).rows[0];
    return row && toVerifiedTag(row);
  }

  async markVerified(upstream: string, repository: string, tag: string, digest: string, at: string) {
    await s.put(this.pool, [upstream, repository, tag, digest, at, null]);
  }

  async noteMoved(upstream: string, repository: string, tag: string, digest: string) {
    return ((await s.moved(this.pool, [digest, upstream, repository, tag])).rowCount ?? 0) > 0;
  }

  accept(upstream: string, repository: string, tag: string, digest: string, at: string, by: string, seal: Seal) {
    return inTransaction(this.pool, async (client) => {
      await lockChain(client);
      const row = (await s.put(client, [upstream, repository, tag, digest, at, by])).rows[0]!;
      await appendInTx(client, seal);
      return toVerifiedTag(row);
    });
  }
}
