import { sql } from 'kysely';
import type { Seal, TagStore, VerifiedTag } from '../types.js';
import { query } from '../query/compiled.js';
import type { Dialect } from '../query/dialect.js';
import { get, type Executor } from '../query/steps.js';
import { appendAt } from './audit-store.js';

interface Row { digest: string; verified_at: string; accepted_by: string | null; seen_digest: string | null }
const toVerifiedTag = (r: Row): VerifiedTag => ({ digest: r.digest, verifiedAt: r.verified_at, acceptedBy: r.accepted_by, seenDigest: r.seen_digest });

/** Verified tags; an accepted digest is written with its audit event in one transaction. */
export class SqlTagStore implements TagStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    type Key = { upstream: string; repository: string; tag: string };
    this.q = {
      get: query((a: Key) =>
        qb.selectFrom('verified_tags').select(['digest', 'verified_at', 'accepted_by', 'seen_digest'])
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('tag', '=', a.tag)),
      put: query((a: Key & { digest: string; at: string; by: string | null }) =>
        qb.insertInto('verified_tags')
          .values({ upstream: a.upstream, repository: a.repository, tag: a.tag, digest: a.digest, verified_at: a.at, accepted_by: a.by, seen_digest: sql.lit(null) })
          .onConflict((oc) => oc.columns(['upstream', 'repository', 'tag']).doUpdateSet((eb) => ({
            digest: eb.ref('excluded.digest'), verified_at: eb.ref('excluded.verified_at'), accepted_by: eb.ref('excluded.accepted_by'), seen_digest: sql.lit(null),
          })))
          .returning(['digest', 'verified_at', 'accepted_by', 'seen_digest'])),
      moved: query((a: Key & { digest: string }) =>
        qb.updateTable('verified_tags').set({ seen_digest: a.digest })
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('tag', '=', a.tag)
          .where((eb) => eb.or([eb('seen_digest', 'is', null), eb('seen_digest', '<>', a.digest)]))),
    };
  }

  async verified(upstream: string, repository: string, tag: string) {
    const row = await this.x.get(this.q.get, { upstream, repository, tag });
    return row && toVerifiedTag(row);
  }

  async markVerified(upstream: string, repository: string, tag: string, digest: string, at: string) {
    await this.x.get(this.q.put, { upstream, repository, tag, digest, at, by: null });
  }

  async noteMoved(upstream: string, repository: string, tag: string, digest: string) {
    return (await this.x.run(this.q.moved, { upstream, repository, tag, digest })) > 0;
  }

  accept(upstream: string, repository: string, tag: string, digest: string, at: string, by: string, seal: Seal) {
    const { q, dialect } = this;
    return this.x.transaction(function* () {
      const chain = yield* dialect.lockChain();
      const row = (yield* get(q.put, { upstream, repository, tag, digest, at, by }))!;
      yield* appendAt(dialect, chain, seal);
      return toVerifiedTag(row);
    });
  }
}
