import { sql, type ExpressionBuilder, type SqlBool, type Expression } from 'kysely';
import type { AuditFilter, AuditOrder, AuditRow, AuditStore, DecisionRow, PrunePlan, Seal, TimeCursor } from '../types.js';
import { compiledNow, query } from '../query/compiled.js';
import type { ChainPosition, Dialect } from '../query/dialect.js';
import type { Schema } from '../query/schema.js';
import { get, run, type Executor, type Steps } from '../query/steps.js';

const FILTER_COLUMNS = ['kind', 'decision', 'repository', 'digest', 'user'] as const;

/**
 * Inside a transaction that took the chain's lock (at `at`): seals after the head and inserts. Shared with
 * policy versions, trust changes and accepted tags, which write their audit event in their own transaction.
 */
export function* appendAt(dialect: Dialect, at: ChainPosition, seal: Seal): Steps<AuditRow[]> {
  const rows = seal(at.head, at.after);
  yield* dialect.insertAudit(rows);
  return rows;
}

/**
 * The hash-chained audit log. Appends take the dialect's chain lock first (SQLite: the IMMEDIATE transaction;
 * PostgreSQL: the control row), so every process extends one chain.
 */
export class SqlAuditStore implements AuditStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    this.q = {
      lastBefore: query((a: { cutoff: string; after: number }) =>
        qb.selectFrom('audit_events').select(['id', 'hash']).where('time', '<', a.cutoff).where('id', '>', a.after).orderBy('id', 'desc').limit(sql.lit(1))),
      countUpTo: query((a: { id: number }) => qb.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('id', '<=', a.id)),
      setPrune: query((a: { id: number }) => qb.updateTable('audit_control').set({ prune_upto: a.id }).where('id', '=', sql.lit(1))),
      deleteUpTo: query((a: { id: number }) => qb.deleteFrom('audit_events').where('id', '<=', a.id)),
      count: query(() => qb.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n'))),
      maxId: query(() => qb.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id'))),
      prunedUpTo: query(() => qb.selectFrom('audit_control').select('prune_upto').where('id', '=', sql.lit(1))),
      lastPrune: query(() => qb.selectFrom('audit_events').select('evidence').where('kind', '=', sql.lit('audit.prune')).orderBy('id', 'desc').limit(sql.lit(1))),
      // The (kind, time, id) index serves both the range and the order.
      decisions: query((a: { kind: string; until: string; time: string; id: number; limit: number }) =>
        qb.selectFrom('audit_events')
          .select(['id', 'time', 'client', 'user', 'repository', 'reference', 'digest', 'decision', 'policy', 'reasons'])
          .where('kind', '=', a.kind).where('decision', 'is not', null).where('time', '<', a.until)
          .where(sql<boolean>`(time, id) > (${a.time}, ${a.id})`)
          .orderBy('time').orderBy('id').limit(a.limit)),
    };
  }

  append(seal: Seal): Promise<AuditRow[]> {
    const dialect = this.dialect;
    return this.x.transaction(function* () {
      return yield* appendAt(dialect, yield* dialect.lockChain(), seal);
    });
  }

  prune(cutoff: string, anchor: (plan: PrunePlan) => Seal): Promise<PrunePlan | undefined> {
    const { dialect, q } = this;
    return this.x.transaction(function* (): Steps<PrunePlan | undefined> {
      const at = yield* dialect.lockChain();
      const last = yield* get(q.lastBefore, { cutoff, after: at.prunedUpTo });
      if (!last) return undefined;
      const plan = { upto: last.id, lastHash: last.hash, pruned: (yield* get(q.countUpTo, { id: last.id }))!.n };
      yield* appendAt(dialect, at, anchor(plan));
      yield* run(q.setPrune, { id: last.id });
      yield* run(q.deleteUpTo, { id: last.id });
      return plan;
    });
  }

  async count() {
    return (await this.x.get(this.q.count, {}))!.n;
  }

  async maxId() {
    return (await this.x.get(this.q.maxId, {}))?.id ?? 0;
  }

  async prunedUpTo() {
    return (await this.x.get(this.q.prunedUpTo, {}))?.prune_upto ?? 0;
  }

  highestId() {
    return this.dialect.highestAuditId();
  }

  async latestPruneEvidence() {
    return (await this.x.get(this.q.lastPrune, {}))?.evidence ?? null;
  }

  async rows(filter: AuditFilter, afterId: number, uptoId: number, limit: number, order: AuditOrder = 'asc'): Promise<AuditRow[]> {
    const q = this.x.qb.selectFrom('audit_events').selectAll().where((eb) => this.matches(eb, filter, afterId, uptoId)).orderBy('id', order).limit(limit);
    return (await this.x.all(compiledNow(q), undefined)) as AuditRow[];
  }

  // Reads the ids up to the two wanted (a page's worth at most) instead of using OFFSET.
  async idsAt(filter: AuditFilter, afterId: number, uptoId: number, offset: number, order: AuditOrder = 'asc'): Promise<number[]> {
    const q = this.x.qb.selectFrom('audit_events').select('id').where((eb) => this.matches(eb, filter, afterId, uptoId)).orderBy('id', order).limit(offset + 2);
    return (await this.x.all(compiledNow(q), undefined)).slice(offset).map((r) => r.id);
  }

  async decisionsByTime(kind: string, since: string, until: string, after: TimeCursor | undefined, limit: number): Promise<DecisionRow[]> {
    // Starting "after" (since, 0) includes every row at `since`: ids start at 1.
    const from = after ?? { time: since, id: 0 };
    return this.x.all(this.q.decisions, { kind, until, time: from.time, id: from.id, limit });
  }

  private matches(eb: ExpressionBuilder<Schema, 'audit_events'>, filter: AuditFilter, afterId: number, uptoId: number): Expression<SqlBool> {
    const where: Expression<SqlBool>[] = [eb('id', '>', afterId), eb('id', '<=', uptoId)];
    for (const col of FILTER_COLUMNS) {
      const value = filter[col];
      if (value !== undefined) where.push(eb(col, '=', value));
    }
    if (filter.requestId !== undefined) where.push(eb('request_id', '=', filter.requestId));
    if (filter.repositoryPrefix !== undefined) where.push(this.dialect.startsWith('repository', filter.repositoryPrefix));
    if (filter.since) where.push(eb('time', '>=', filter.since));
    if (filter.until) where.push(eb('time', '<', filter.until));
    if (filter.evidenceContains?.length) where.push(eb.or(filter.evidenceContains.map((needle) => this.dialect.contains('evidence', needle))));
    return eb.and(where);
  }
}
