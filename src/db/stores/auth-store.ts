import { sql } from 'kysely';
import type { FailureStore, KeyStore } from '../types.js';
import { query } from '../query/compiled.js';
import type { Executor } from '../query/steps.js';

/** Shared secrets: insert-if-absent, then read, so racing processes all end with the first key. */
export class SqlKeyStore implements KeyStore {
  private readonly q;

  constructor(private readonly x: Executor) {
    const qb = x.qb;
    this.q = {
      insert: query((a: { name: string; key: Buffer; createdAt: number }) =>
        qb.insertInto('secret_keys').values({ name: a.name, key: a.key, created_at: a.createdAt }).onConflict((oc) => oc.column('name').doNothing())),
      get: query((a: { name: string }) => qb.selectFrom('secret_keys').select('key').where('name', '=', a.name)),
    };
  }

  async getOrCreate(name: string, create: () => Buffer) {
    await this.x.run(this.q.insert, { name, key: create(), createdAt: Date.now() });
    return (await this.x.get(this.q.get, { name }))!.key;
  }
}

/** Failed-credential counts; each change is one statement (row-locked), so processes and replicas agree. */
export class SqlFailureStore implements FailureStore {
  private readonly q;

  constructor(private readonly x: Executor) {
    const qb = x.qb;
    this.q = {
      record: query((a: { address: string; now: number; window: number }) => {
        const expired = sql<boolean>`${a.now} - auth_failures.window_start >= ${a.window}`;
        return qb.insertInto('auth_failures')
          .values({ address: a.address, window_start: a.now, failures: sql.lit(1), blocked_until: sql.lit(0), seen_at: a.now })
          .onConflict((oc) => oc.column('address').doUpdateSet({
            failures: sql<number>`CASE WHEN ${expired} THEN 1 ELSE auth_failures.failures + 1 END`,
            window_start: sql<number>`CASE WHEN ${expired} THEN ${a.now} ELSE auth_failures.window_start END`,
            seen_at: a.now,
          }))
          .returning('failures');
      }),
      block: query((a: { address: string; maxFailures: number; now: number; until: number }) =>
        qb.updateTable('auth_failures').set({ blocked_until: a.until, failures: sql.lit(0), window_start: a.now })
          .where('address', '=', a.address).where('failures', '>=', a.maxFailures)),
      blocked: query((a: { now: number; limit: number }) =>
        qb.selectFrom('auth_failures').select(['address', 'blocked_until']).where('blocked_until', '>', a.now)
          .orderBy('blocked_until', 'desc').limit(a.limit)),
      pruneOld: query((a: { before: number; now: number }) =>
        qb.deleteFrom('auth_failures').where('seen_at', '<', a.before).where('blocked_until', '<', a.now)),
      // Everything but the `keep` most recently seen (NOT IN a LIMIT: OFFSET alone is not valid SQLite).
      pruneExcess: query((a: { keep: number }) =>
        qb.deleteFrom('auth_failures').where('address', 'not in',
          qb.selectFrom('auth_failures').select('address').orderBy('seen_at', 'desc').limit(a.keep))),
    };
  }

  async recordFailure(address: string, now: number, windowMs: number) {
    return (await this.x.get(this.q.record, { address, now, window: windowMs }))!.failures;
  }

  async block(address: string, maxFailures: number, now: number, until: number) {
    return (await this.x.run(this.q.block, { address, maxFailures, now, until })) > 0;
  }

  async blocked(now: number, limit: number) {
    const rows = await this.x.all(this.q.blocked, { now, limit });
    return new Map(rows.map((r) => [r.address, r.blocked_until]));
  }

  async prune(before: number, keep: number) {
    await this.x.run(this.q.pruneOld, { before, now: Date.now() });
    await this.x.run(this.q.pruneExcess, { keep });
  }
}
