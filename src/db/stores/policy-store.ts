import { sql } from 'kysely';
import type { PolicyRow, PolicySourceKind, PolicyState, PolicyStore, Seal } from '../types.js';
import { pollNewest } from '../poll-newest.js';
import { PolicyVersionConflict } from '../policy-conflict.js';
import { query } from '../query/compiled.js';
import type { Dialect } from '../query/dialect.js';
import { get, run, type Executor, type Steps } from '../query/steps.js';
import { appendAt } from './audit-store.js';

interface Row {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  rules: string;
  diff: string;
  rollback_of: number | null;
  comment: string | null;
}

const toRow = (r: Row | undefined): PolicyRow | undefined => {
  if (!r) return undefined;
  const { rollback_of, ...rest } = r;
  return { ...rest, rollbackOf: rollback_of, comment: r.comment ?? null };
};

/** Append-only policy versions; a version and its audit event are written in one transaction under the chain lock. */
export class SqlPolicyStore implements PolicyStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    this.q = {
      newest: query(() => qb.selectFrom('policy_versions').select((eb) => eb.fn.max('version').as('v'))),
      get: query((a: { version: number }) => qb.selectFrom('policy_versions').selectAll().where('version', '=', a.version)),
      lastFromConfig: query(() => qb.selectFrom('policy_versions').selectAll().where('source', '=', sql.lit('config')).orderBy('version', 'desc').limit(sql.lit(1))),
      list: query(() => qb.selectFrom('policy_versions').selectAll().orderBy('version', 'desc')),
      insert: query((a: PolicyRow) => qb.insertInto('policy_versions').values({
        version: a.version, time: a.time, author: a.author, source: a.source, rules: a.rules, diff: a.diff, rollback_of: a.rollbackOf, comment: a.comment,
      })),
    };
  }

  async newest() {
    return (await this.x.get(this.q.newest, {}))?.v ?? null;
  }

  async get(version: number) {
    return toRow(await this.x.get(this.q.get, { version }));
  }

  async list() {
    return (await this.x.all(this.q.list, {})).map((r) => toRow(r)!);
  }

  append(plan: (state: PolicyState) => { row: PolicyRow; seal: Seal } | undefined, read?: number, ifNewest?: readonly number[]) {
    const { q, dialect } = this;
    return this.x.transaction(function* (): Steps<PolicyRow | undefined> {
      // The chain lock also serialises version numbers: every version change writes an audit event.
      const chain = yield* dialect.lockChain();
      const newest = (yield* get(q.newest, {}))?.v ?? null;
      if (ifNewest && (newest === null || !ifNewest.includes(newest))) throw new PolicyVersionConflict(newest, ifNewest);
      const planned = plan({
        newest: newest === null ? undefined : toRow(yield* get(q.get, { version: newest })),
        lastFromConfig: toRow(yield* get(q.lastFromConfig, {})),
        read: read === undefined ? undefined : toRow(yield* get(q.get, { version: read })),
      });
      if (!planned) return undefined;
      const { row } = planned;
      yield* run(q.insert, row);
      yield* appendAt(dialect, chain, planned.seal);
      yield* dialect.announcePolicy(row.version);
      return row;
    });
  }

  /** Checks the newest version every second, and as soon as the dialect hears of a new one (PostgreSQL: NOTIFY). */
  watch(onChange: () => void) {
    const poll = pollNewest(() => this.newest(), onChange);
    const listener = this.dialect.listenPolicies(() => void poll.check());
    return {
      stop() {
        listener.stop();
        poll.stop();
      },
    };
  }
}
