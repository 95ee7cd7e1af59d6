import { sql } from 'kysely';
import type { ExceptionRow, NewException, NewRevocation, RevocationRow, Seal, TrustStore } from '../types.js';
import { pollNewest } from '../poll-newest.js';
import { query } from '../query/compiled.js';
import type { Dialect } from '../query/dialect.js';
import { all, get, run, type Executor, type Steps } from '../query/steps.js';
import { appendAt } from './audit-store.js';

interface RevRow { id: number; signer: string; reason: string; author: string; time: string; lifted_at: string | null; lifted_by: string | null }
interface ExcRow {
  id: number; repository: string; digest: string | null; until: string; reason: string; author: string; time: string;
  cover_deny_rule: number; revoked_at: string | null; revoked_by: string | null; expired: number; vulnerability: string | null;
}

const toRevocation = (r: RevRow): RevocationRow => ({
  id: r.id, signer: r.signer, reason: r.reason, author: r.author, time: r.time, liftedAt: r.lifted_at, liftedBy: r.lifted_by,
});
const toException = (r: ExcRow): ExceptionRow => ({
  id: r.id, repository: r.repository, digest: r.digest, until: r.until, reason: r.reason, author: r.author, time: r.time,
  coverDenyRule: r.cover_deny_rule === 1, revokedAt: r.revoked_at, revokedBy: r.revoked_by, expired: r.expired === 1,
  vulnerability: r.vulnerability ?? null,
});

/** Revocations and exceptions; each change, a generation bump and its audit event in one transaction under the chain lock. */
export class SqlTrustStore implements TrustStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    this.q = {
      generation: query(() => qb.selectFrom('trust_generation').select('n').where('id', '=', sql.lit(1))),
      bump: query(() => qb.updateTable('trust_generation').set((eb) => ({ n: eb('n', '+', sql.lit(1)) })).where('id', '=', sql.lit(1))),
      revocations: query(() => qb.selectFrom('revocations').selectAll().orderBy('id', 'desc')),
      addRevocation: query((a: NewRevocation) =>
        qb.insertInto('revocations').values({ signer: a.signer, reason: a.reason, author: a.author, time: a.time }).returningAll()),
      lift: query((a: { id: number; at: string; by: string }) =>
        qb.updateTable('revocations').set({ lifted_at: a.at, lifted_by: a.by }).where('id', '=', a.id).where('lifted_at', 'is', null).returningAll()),
      exceptions: query(() => qb.selectFrom('policy_exceptions').selectAll().orderBy('id', 'desc')),
      addException: query((a: Omit<NewException, 'coverDenyRule'> & { coverDenyRule: number }) =>
        qb.insertInto('policy_exceptions')
          .values({ repository: a.repository, digest: a.digest, until: a.until, reason: a.reason, author: a.author, time: a.time, cover_deny_rule: a.coverDenyRule, vulnerability: a.vulnerability ?? null })
          .returningAll()),
      revoke: query((a: { id: number; at: string; by: string }) =>
        qb.updateTable('policy_exceptions').set({ revoked_at: a.at, revoked_by: a.by })
          .where('id', '=', a.id).where('revoked_at', 'is', null).where('expired', '=', sql.lit(0)).returningAll()),
      due: query((a: { now: string }) =>
        qb.selectFrom('policy_exceptions').select('id').where('revoked_at', 'is', null).where('expired', '=', sql.lit(0)).where('until', '<=', a.now).limit(sql.lit(1))),
      expire: query((a: { now: string }) =>
        qb.updateTable('policy_exceptions').set({ expired: sql.lit(1) })
          .where('revoked_at', 'is', null).where('expired', '=', sql.lit(0)).where('until', '<=', a.now).returningAll()),
    };
  }

  async generation() {
    return (await this.x.get(this.q.generation, {}))!.n;
  }

  async revocations() {
    return (await this.x.all(this.q.revocations, {})).map(toRevocation);
  }

  addRevocation(row: NewRevocation, seal: (row: RevocationRow) => Seal) {
    return this.change((q) => get(q.addRevocation, row), toRevocation, seal) as Promise<RevocationRow>;
  }

  liftRevocation(id: number, at: string, by: string, seal: (row: RevocationRow) => Seal) {
    return this.change((q) => get(q.lift, { id, at, by }), toRevocation, seal);
  }

  async exceptions() {
    return (await this.x.all(this.q.exceptions, {})).map(toException);
  }

  addException(row: NewException, seal: (row: ExceptionRow) => Seal) {
    const values = { ...row, coverDenyRule: row.coverDenyRule ? 1 : 0 };
    return this.change((q) => get(q.addException, values), toException, seal) as Promise<ExceptionRow>;
  }

  revokeException(id: number, at: string, by: string, seal: (row: ExceptionRow) => Seal) {
    return this.change((q) => get(q.revoke, { id, at, by }), toException, seal);
  }

  async expireExceptions(now: string, seal: (rows: ExceptionRow[]) => Seal) {
    // A read first: most sweeps find nothing and take no lock.
    if (!(await this.x.get(this.q.due, { now }))) return [];
    const { q, dialect } = this;
    return this.x.transaction(function* () {
      // The chain lock serialises sweepers: the second finds the rows already expired.
      const chain = yield* dialect.lockChain();
      const due = (yield* all(q.expire, { now })).map(toException).sort((a, b) => a.id - b.id);
      if (due.length === 0) return [];
      yield* run(q.bump, {});
      yield* appendAt(dialect, chain, seal(due));
      return due;
    });
  }

  watch(onChange: () => void) {
    return pollNewest(() => this.generation(), onChange);
  }

  /** Under the chain lock: `write` changes one row (none: nothing happens), the generation moves, the event is appended. */
  private change<R, T>(write: (q: SqlTrustStore['q']) => Steps<R | undefined>, convert: (r: R) => T, seal: (row: T) => Seal): Promise<T | undefined> {
    const { q, dialect } = this;
    return this.x.transaction(function* () {
      const chain = yield* dialect.lockChain();
      const row = yield* write(q);
      if (!row) return undefined;
      const stored = convert(row);
      yield* run(q.bump, {});
      yield* appendAt(dialect, chain, seal(stored));
      return stored;
    });
  }
}
