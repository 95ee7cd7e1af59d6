import { signerNeedles, type AuditFilter, type AuditStore } from '../db/types.js';
import type { StoredRow } from './chain.js';

export type { AuditFilter } from '../db/types.js';

export const FILTER_KEYS = [
  'kind', 'decision', 'repository', 'repositoryPrefix', 'digest', 'user', 'requestId', 'since', 'until', 'signer', 'issuer',
] as const;
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
    } else if (key === 'signer') {
      // A key's name from trust.keys, or a keyless identity's subject (with `issuer` to pin its issuer too).
      const issuer = typeof input.issuer === 'string' && input.issuer ? input.issuer : undefined;
      filter.evidenceContains = signerNeedles({ key: value, subject: value, issuer });
    } else if (key !== 'issuer') {
      filter[key] = value;
    }
  }
  if (input.issuer !== undefined && input.signer === undefined) errors.push({ path: 'issuer', message: 'needs signer (the keyless subject)' });
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
 * holds much memory nor keeps a connection busy between batches (appends interleave freely).
 */
export class AuditQuery {
  constructor(private readonly store: AuditStore) {}

  /** The id after which the page that starts after `afterId` ends, or null when that page is the last. */
  async nextAfter(filter: AuditFilter, afterId: number, limit: number, uptoId = Number.MAX_SAFE_INTEGER): Promise<number | null> {
    const ids = await this.store.idsAt(filter, afterId, uptoId, limit - 1);
    return ids.length === 2 ? ids[0]! : null;
  }

  /** Newest id now: an export stops there, so it is a consistent set even while events arrive. */
  maxId(): Promise<number> {
    return this.store.maxId();
  }

  /** Rows matching the filter with id > afterId (and <= uptoId), at most `limit`, in batches. */
  async *batches(filter: AuditFilter, afterId: number, limit: number, uptoId = Number.MAX_SAFE_INTEGER, batchSize = 500): AsyncGenerator<StoredRow[]> {
    let after = afterId;
    let left = limit;
    while (left > 0) {
      const batch = await this.store.rows(filter, after, uptoId, Math.min(batchSize, left));
      if (batch.length === 0) return;
      yield batch;
      left -= batch.length;
      after = batch[batch.length - 1]!.id;
    }
  }
}
