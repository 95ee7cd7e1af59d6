import type { Db } from '../db/database.js';
import type { StoredRow } from './chain.js';

export interface AuditFilter {
  kind?: string;
  decision?: string;
  repository?: string;
  digest?: string;
  user?: string;
  /** ISO 8601 UTC, inclusive. */
  since?: string;
  /** ISO 8601 UTC, exclusive. */
  until?: string;
}

export const FILTER_KEYS = ['kind', 'decision', 'repository', 'digest', 'user', 'since', 'until'] as const;
const DURATION_RE = /^(\d+)(m|h|d)$/;
const DURATION_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads filters from query parameters or CLI flags, reporting every bad one. Times are ISO 8601 or a
 * duration back from now (`7d`, `12h`, `30m`), normalised to the stored form so string order is time order.
 */
export function parseAuditFilter(
  input: Record<string, unknown>,
  now = new Date(),
): { filter: AuditFilter; errors: { path: string; message: string }[] } {
  const filter: AuditFilter = {};
  const errors: { path: string; message: string }[] = [];
  for (const key of FILTER_KEYS) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
      errors.push({ path: key, message: 'must be a non-empty string' });
      continue;
    }
    if (key === 'since' || key === 'until') {
      const time = parseTime(value, now);
      if (time) filter[key] = time;
      else errors.push({ path: key, message: 'must be an ISO 8601 time or a duration back from now such as "7d"' });
    } else if (key === 'decision' && !['allow', 'deny', 'warn'].includes(value)) {
      errors.push({ path: key, message: 'must be allow, deny or warn' });
    } else {
      filter[key] = value;
    }
  }
  return { filter, errors };
}

export function parseTime(value: string, now = new Date()): string | undefined {
  const d = DURATION_RE.exec(value);
  if (d) return new Date(now.getTime() - Number(d[1]) * DURATION_MS[d[2]!]!).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

/** The opaque `cursor`/`next`: the id after which the next page starts. Ids only grow, so it stays correct. */
export function encodeCursor(afterId: number): string {
  return Buffer.from(JSON.stringify({ after: afterId })).toString('base64url');
}

export function decodeCursor(cursor: string): number | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    return Number.isSafeInteger(v.after) && (v.after as number) >= 0 ? (v.after as number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keyset queries over the audit log in id order. Reads go in bounded batches so a long export neither
 * holds much memory nor keeps the shared connection busy between batches (appends interleave freely).
 */
export class AuditQuery {
  constructor(private readonly db: Db) {}

  /** The id after which the page that starts after `afterId` ends, or null when that page is the last. */
  nextAfter(filter: AuditFilter, afterId: number, limit: number, uptoId?: number): number | null {
    const { sql, params } = this.select(filter, 'id', afterId, uptoId);
    const ids = this.db.prepare(`${sql} LIMIT 2 OFFSET ?`).pluck().all(...params, limit - 1) as number[];
    return ids.length === 2 ? ids[0]! : null;
  }

  /** Newest id now: an export stops there, so it is a consistent set even while events arrive. */
  maxId(): number {
    return ((this.db.prepare('SELECT max(id) FROM audit_events').pluck().get() as number | null) ?? 0);
  }

  /** Rows matching the filter with id > afterId (and <= uptoId), at most `limit`, in batches. */
  *batches(filter: AuditFilter, afterId: number, limit: number, uptoId?: number, batchSize = 500): Generator<StoredRow[]> {
    let after = afterId;
    let left = limit;
    while (left > 0) {
      const { sql, params } = this.select(filter, '*', after, uptoId);
      const batch: StoredRow[] = [];
      for (const row of this.db.prepare(`${sql} LIMIT ?`).iterate(...params, Math.min(batchSize, left))) {
        batch.push(row as StoredRow);
      }
      if (batch.length === 0) return;
      yield batch;
      left -= batch.length;
      after = batch[batch.length - 1]!.id;
    }
  }

  private select(filter: AuditFilter, columns: string, afterId: number, uptoId: number | undefined) {
    const where = ['id > ?'];
    const params: unknown[] = [afterId];
    if (uptoId !== undefined) {
      where.push('id <= ?');
      params.push(uptoId);
    }
    for (const col of ['kind', 'decision', 'repository', 'digest', 'user'] as const) {
      if (filter[col] !== undefined) {
        where.push(`${col} = ?`);
        params.push(filter[col]);
      }
    }
    if (filter.since) {
      where.push('time >= ?');
      params.push(filter.since);
    }
    if (filter.until) {
      where.push('time < ?');
      params.push(filter.until);
    }
    return { sql: `SELECT ${columns} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY id`, params };
  }
}
