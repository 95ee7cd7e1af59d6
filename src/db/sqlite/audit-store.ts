import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import type { AuditFilter, AuditOrder, AuditRow, AuditStore, ChainHead, DecisionRow, PrunePlan, Seal, TimeCursor } from '../types.js';

const FILTER_COLUMNS = ['kind', 'decision', 'repository', 'digest', 'user'] as const;
const DIRECTION: Record<AuditOrder, string> = { asc: 'ASC', desc: 'DESC' };
const DECISION_COLUMNS = 'id, time, client, user, repository, reference, digest, decision, policy, reasons';

/**
 * The audit log in SQLite. Appends run in IMMEDIATE transactions, which take the file's write lock before
 * the head is read, so processes sharing the file extend one chain.
 */
export class SqliteAuditStore implements AuditStore {
  private readonly s;
  /** Filtered queries, prepared once per shape (a handful of filter combinations). */
  private readonly shapes = new Map<string, Statement>();

  constructor(private readonly db: Db) {
    this.s = {
      insert: db.prepare(`INSERT INTO audit_events (id, time, kind, request_id, client, user, upstream,
        repository, reference, digest, decision, policy, policy_version, mode, reasons, evidence, cache_hit, bytes,
        status, prev_hash, hash) VALUES (@id, @time, @kind, @request_id, @client, @user, @upstream, @repository,
        @reference, @digest, @decision, @policy, @policy_version, @mode, @reasons, @evidence, @cache_hit, @bytes,
        @status, @prev_hash, @hash)`),
      head: db.prepare('SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1'),
      prunedUpTo: db.prepare('SELECT prune_upto FROM audit_control WHERE id = 1').pluck(),
      lastBefore: db.prepare('SELECT id, hash FROM audit_events WHERE time < ? AND id > ? ORDER BY id DESC LIMIT 1'),
      countUpTo: db.prepare('SELECT count(*) FROM audit_events WHERE id <= ?').pluck(),
      setPrune: db.prepare('UPDATE audit_control SET prune_upto = ? WHERE id = 1'),
      deleteUpTo: db.prepare('DELETE FROM audit_events WHERE id <= ?'),
      count: db.prepare('SELECT count(*) FROM audit_events').pluck(),
      maxId: db.prepare('SELECT max(id) FROM audit_events').pluck(),
      highest: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'`).pluck(),
      lastPrune: db.prepare(`SELECT evidence FROM audit_events WHERE kind = 'audit.prune' ORDER BY id DESC LIMIT 1`).pluck(),
      // The (kind, time, id) index serves both the range and the order.
      decisions: db.prepare(`SELECT ${DECISION_COLUMNS} FROM audit_events
        WHERE kind = @kind AND decision IS NOT NULL AND time < @until AND (time, id) > (@time, @id)
        ORDER BY time, id LIMIT @limit`),
    };
  }

  async append(seal: Seal): Promise<AuditRow[]> {
    return this.db.transaction(() => this.appendInTx(seal)).immediate();
  }

  /**
   * Inside a transaction: reads the head, seals after it, inserts. Shared with policy versions. Ids are
   * never given out twice: they continue from the highest id ever written (the AUTOINCREMENT counter, or
   * the prune point), not from the newest row left, so rows deleted from the end stay a gap once new events
   * arrive. The hash chains to the newest row there is.
   */
  appendInTx(seal: Seal): AuditRow[] {
    const newest = this.s.head.get() as ChainHead | undefined;
    const highest = Math.max((this.s.highest.get() as number | undefined) ?? 0, this.s.prunedUpTo.get() as number);
    const head = newest && { id: Math.max(newest.id, highest), hash: newest.hash };
    const rows = seal(head, highest);
    for (const row of rows) this.s.insert.run(row);
    return rows;
  }

  async prune(cutoff: string, anchor: (plan: PrunePlan) => Seal): Promise<PrunePlan | undefined> {
    return this.db.transaction((): PrunePlan | undefined => {
      const last = this.s.lastBefore.get(cutoff, this.s.prunedUpTo.get()) as ChainHead | undefined;
      if (!last) return undefined;
      const plan = { upto: last.id, lastHash: last.hash, pruned: this.s.countUpTo.get(last.id) as number };
      this.appendInTx(anchor(plan));
      this.s.setPrune.run(last.id);
      this.s.deleteUpTo.run(last.id);
      return plan;
    }).immediate();
  }

  async count() {
    return this.s.count.get() as number;
  }

  async maxId() {
    return (this.s.maxId.get() as number | null) ?? 0;
  }

  async prunedUpTo() {
    return (this.s.prunedUpTo.get() as number | undefined) ?? 0;
  }

  /** SQLite's AUTOINCREMENT counter remembers the highest id ever written. */
  async highestId() {
    return this.s.highest.get() as number | undefined;
  }

  async latestPruneEvidence() {
    return (this.s.lastPrune.get() as string | null | undefined) ?? null;
  }

  async rows(filter: AuditFilter, afterId: number, uptoId: number, limit: number, order: AuditOrder = 'asc'): Promise<AuditRow[]> {
    const { where, params } = whereOf(filter, afterId, uptoId);
    return this.shape(`SELECT * FROM audit_events WHERE ${where} ORDER BY id ${DIRECTION[order]} LIMIT ?`).all(...params, limit) as AuditRow[];
  }

  // Reads the ids up to the two wanted (a page's worth at most) instead of using OFFSET.
  async idsAt(filter: AuditFilter, afterId: number, uptoId: number, offset: number, order: AuditOrder = 'asc'): Promise<number[]> {
    const { where, params } = whereOf(filter, afterId, uptoId);
    const sql = `SELECT id FROM audit_events WHERE ${where} ORDER BY id ${DIRECTION[order]} LIMIT ?`;
    return (this.shape(sql).all(...params, offset + 2) as { id: number }[]).slice(offset).map((r) => r.id);
  }

  async decisionsByTime(kind: string, since: string, until: string, after: TimeCursor | undefined, limit: number): Promise<DecisionRow[]> {
    // Starting "after" (since, 0) includes every row at `since`: ids start at 1.
    const from = after ?? { time: since, id: 0 };
    return this.s.decisions.all({ kind, until, time: from.time, id: from.id, limit }) as DecisionRow[];
  }

  private shape(sql: string): Statement {
    let stmt = this.shapes.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.shapes.set(sql, stmt);
    }
    return stmt;
  }
}

function whereOf(filter: AuditFilter, afterId: number, uptoId: number): { where: string; params: unknown[] } {
  const where = ['id > ?', 'id <= ?'];
  const params: unknown[] = [afterId, uptoId];
  for (const col of FILTER_COLUMNS) {
    if (filter[col] === undefined) continue;
    where.push(`${col} = ?`);
    params.push(filter[col]);
  }
  if (filter.requestId !== undefined) {
    where.push('request_id = ?');
    params.push(filter.requestId);
  }
  if (filter.repositoryPrefix !== undefined) {
    // Compared as text, not with LIKE (case-insensitive, with wildcards); the lower bound lets the index help.
    where.push('repository >= ? AND substr(repository, 1, length(?)) = ?');
    params.push(filter.repositoryPrefix, filter.repositoryPrefix, filter.repositoryPrefix);
  }
  if (filter.since) {
    where.push('time >= ?');
    params.push(filter.since);
  }
  if (filter.until) {
    where.push('time < ?');
    params.push(filter.until);
  }
  if (filter.evidenceContains?.length) {
    where.push(`(${filter.evidenceContains.map(() => 'instr(evidence, ?) > 0').join(' OR ')})`);
    params.push(...filter.evidenceContains);
  }
  return { where: where.join(' AND '), params };
}
