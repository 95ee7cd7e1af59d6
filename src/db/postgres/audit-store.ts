import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AuditFilter, AuditOrder, AuditRow, AuditStore, ChainHead, DecisionRow, PrunePlan, Seal, TimeCursor } from '../types.js';
import { inTransaction } from './pool.js';
import { statement } from './statement.js';

const COLUMNS = [
  'id', 'time', 'kind', 'request_id', 'client', 'user', 'upstream', 'repository', 'reference', 'digest', 'decision',
  'policy', 'policy_version', 'mode', 'reasons', 'evidence', 'cache_hit', 'bytes', 'status', 'prev_hash', 'hash',
] as const satisfies readonly (keyof AuditRow)[];
const ARRAY_TYPES: Record<string, string> = { id: 'bigint', policy_version: 'bigint', bytes: 'bigint', cache_hit: 'integer', status: 'integer' };
const FILTER_COLUMNS = ['kind', 'decision', 'repository', 'digest', 'user'] as const;
const DIRECTION: Record<AuditOrder, string> = { asc: 'ASC', desc: 'DESC' };

const s = {
  // The lock every appender takes first: one row, so appends from every replica serialise here.
  lockHead: statement<{ prune_upto: number; head_id: number; head_hash: string | null }>('audit_lock_head',
    'SELECT prune_upto, head_id, head_hash FROM audit_control WHERE id = 1 FOR UPDATE'),
  // Any number of rows (one array per column) and the new head, in one statement: one round trip.
  insert: statement('audit_insert', `WITH rows AS (
      INSERT INTO audit_events (${COLUMNS.map((c) => `"${c}"`).join(', ')})
      SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c] ?? 'text'}[]`).join(', ')}))
    UPDATE audit_control SET head_id = $${COLUMNS.length + 1}, head_hash = $${COLUMNS.length + 2} WHERE id = 1`),
  lastBefore: statement<ChainHead>('audit_last_before', 'SELECT id, hash FROM audit_events WHERE time < $1 AND id > $2 ORDER BY id DESC LIMIT 1'),
  countUpTo: statement<{ n: number }>('audit_count_upto', 'SELECT count(*) AS n FROM audit_events WHERE id <= $1'),
  setPrune: statement('audit_set_prune', 'UPDATE audit_control SET prune_upto = $1 WHERE id = 1'),
  deleteUpTo: statement('audit_delete_upto', 'DELETE FROM audit_events WHERE id <= $1'),
  count: statement<{ n: number }>('audit_count', 'SELECT count(*) AS n FROM audit_events'),
  maxId: statement<{ id: number | null }>('audit_max_id', 'SELECT max(id) AS id FROM audit_events'),
  control: statement<{ prune_upto: number; head_id: number }>('audit_control', 'SELECT prune_upto, head_id FROM audit_control WHERE id = 1'),
  lastPrune: statement<{ evidence: string | null }>('audit_last_prune',
    `SELECT evidence FROM audit_events WHERE kind = 'audit.prune' ORDER BY id DESC LIMIT 1`),
  // The (kind, time, id) index serves both the range and the order.
  decisions: statement<DecisionRow>('audit_decisions_by_time',
    `SELECT id, time, client, "user", repository, reference, digest, decision, policy, reasons FROM audit_events
     WHERE kind = $1 AND decision IS NOT NULL AND time < $2 AND (time, id) > ($3, $4) ORDER BY time, id LIMIT $5`),
};

/** Takes the chain's lock for the rest of the caller's transaction (taking it again is free). */
export async function lockChain(client: pg.PoolClient) {
  return (await s.lockHead(client)).rows[0]!;
}

/** Locks the chain head and appends after it; the caller's transaction commits. Shared with policy versions. */
export async function appendInTx(client: pg.PoolClient, seal: Seal): Promise<AuditRow[]> {
  return appendAfter(client, await lockChain(client), seal);
}

async function appendAfter(client: pg.PoolClient, control: { prune_upto: number; head_id: number; head_hash: string | null }, seal: Seal) {
  const head = control.head_id > 0 && control.head_hash ? { id: control.head_id, hash: control.head_hash } : undefined;
  const rows = seal(head, control.prune_upto);
  if (rows.length === 0) return rows;
  const last = rows[rows.length - 1]!;
  await s.insert(client, [...COLUMNS.map((c) => rows.map((r) => r[c])), last.id, last.hash]);
  return rows;
}

/**
 * The audit log in PostgreSQL. An append is BEGIN, lock the head row, insert every row of the batch and move
 * the head in one statement, COMMIT: one chain across replicas, and a batch is either all there or absent.
 */
export class PostgresAuditStore implements AuditStore {
  /** Filtered queries get a named statement per shape (a handful of filter combinations). */
  private readonly shapes = new Map<string, ReturnType<typeof statement>>();

  constructor(private readonly pool: pg.Pool) {}

  append(seal: Seal): Promise<AuditRow[]> {
    return inTransaction(this.pool, (client) => appendInTx(client, seal));
  }

  prune(cutoff: string, anchor: (plan: PrunePlan) => Seal): Promise<PrunePlan | undefined> {
    return inTransaction(this.pool, async (client) => {
      const control = await lockChain(client);
      const last = (await s.lastBefore(client, [cutoff, control.prune_upto])).rows[0];
      if (!last) return undefined;
      const plan = { upto: last.id, lastHash: last.hash, pruned: (await s.countUpTo(client, [last.id])).rows[0]!.n };
      await appendAfter(client, control, anchor(plan));
      await s.setPrune(client, [last.id]);
      await s.deleteUpTo(client, [last.id]);
      return plan;
    });
  }

  async count() {
    return (await s.count(this.pool)).rows[0]!.n;
  }

  async maxId() {
    return (await s.maxId(this.pool)).rows[0]!.id ?? 0;
  }

  async prunedUpTo() {
    return (await s.control(this.pool)).rows[0]!.prune_upto;
  }

  /** The head row remembers the highest id ever appended. */
  async highestId() {
    return (await s.control(this.pool)).rows[0]!.head_id;
  }

  async latestPruneEvidence() {
    return (await s.lastPrune(this.pool)).rows[0]?.evidence ?? null;
  }

  async rows(filter: AuditFilter, afterId: number, uptoId: number, limit: number, order: AuditOrder = 'asc'): Promise<AuditRow[]> {
    const { where, params } = whereOf(filter, afterId, uptoId);
    const sql = `SELECT * FROM audit_events WHERE ${where} ORDER BY id ${DIRECTION[order]} LIMIT $${params.length + 1}`;
    return (await this.shape(sql)(this.pool, [...params, limit])).rows as AuditRow[];
  }

  // Reads the ids up to the two wanted (a page's worth at most) instead of using OFFSET.
  async idsAt(filter: AuditFilter, afterId: number, uptoId: number, offset: number, order: AuditOrder = 'asc'): Promise<number[]> {
    const { where, params } = whereOf(filter, afterId, uptoId);
    const sql = `SELECT id FROM audit_events WHERE ${where} ORDER BY id ${DIRECTION[order]} LIMIT $${params.length + 1}`;
    return (await this.shape(sql)(this.pool, [...params, offset + 2])).rows.slice(offset).map((r) => r.id as number);
  }

  async decisionsByTime(kind: string, since: string, until: string, after: TimeCursor | undefined, limit: number): Promise<DecisionRow[]> {
    // Starting "after" (since, 0) includes every row at `since`: ids start at 1.
    const from = after ?? { time: since, id: 0 };
    return (await s.decisions(this.pool, [kind, until, from.time, from.id, limit])).rows;
  }

  private shape(sql: string) {
    let stmt = this.shapes.get(sql);
    if (!stmt) {
      stmt = statement(`audit_q_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`, sql);
      this.shapes.set(sql, stmt);
    }
    return stmt;
  }
}

function whereOf(filter: AuditFilter, afterId: number, uptoId: number): { where: string; params: unknown[] } {
  const params: unknown[] = [afterId, uptoId];
  const where = ['id > $1', 'id <= $2'];
  const add = (clause: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  for (const col of FILTER_COLUMNS) {
    if (filter[col] !== undefined) add((n) => `"${col}" = ${n}`, filter[col]);
  }
  if (filter.requestId !== undefined) add((n) => `request_id = ${n}`, filter.requestId);
  // starts_with compares text, unlike LIKE, whose % and _ would be wildcards.
  if (filter.repositoryPrefix !== undefined) add((n) => `starts_with(repository, ${n})`, filter.repositoryPrefix);
  if (filter.since) add((n) => `time >= ${n}`, filter.since);
  if (filter.until) add((n) => `time < ${n}`, filter.until);
  if (filter.evidenceContains?.length) {
    const any = filter.evidenceContains.map((needle) => {
      params.push(needle);
      return `strpos(evidence, $${params.length}) > 0`;
    });
    where.push(`(${any.join(' OR ')})`);
  }
  return { where: where.join(' AND '), params };
}
