import type { AuditFilter, AuditOrder, AuditStore } from '../db/types.js';
import type { StoredRow } from './chain.js';
import { unknownNames } from '../text/unknown-names.js';
import { askedSignerNeedles } from './signer-needles.js';
import { MOMENT_AGO_MESSAGE, parseMoment } from '../text/duration.js';

export type { AuditFilter, AuditOrder } from '../db/types.js';

/** A misspelt parameter (`?decison=deny`) is refused rather than ignored, which would widen the answer. */
export function unknownParameters(input: Record<string, unknown>, known: readonly string[]): { path: string; message: string }[] {
  return unknownNames(input, known, 'parameter of this endpoint');
}

export const FILTER_KEYS = [
  'kind', 'decision', 'repository', 'repositoryPrefix', 'digest', 'user', 'requestId', 'since', 'until', 'signer', 'issuer',
] as const;

/**
 * Reads filters from query parameters or CLI flags, reporting every bad one. Times are ISO 8601 or a
 * duration back from now (`7d`, `12h`, `30s`; text/duration.ts), normalised to the stored form so string
 * order is time order.
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
    const problem = filterValueProblem(value);
    if (problem !== undefined || typeof value !== 'string') {
      errors.push({ path: key, message: problem ?? 'must be a string' });
      continue;
    }
    if (key === 'since' || key === 'until') {
      const time = parseTime(value, now);
      if (time) filter[key] = time;
      else errors.push({ path: key, message: MOMENT_AGO_MESSAGE });
    } else if (key === 'decision' && !['allow', 'deny', 'warn'].includes(value)) {
      errors.push({ path: key, message: 'must be allow, deny or warn' });
    } else if (key === 'signer') {
      // A key's name from trust.keys, a keyless identity's subject (with `issuer` to pin its issuer too), a
      // Notation signer's subject DN, or a Notation signing certificate's SHA-256 fingerprint.
      const issuer = typeof input.issuer === 'string' && input.issuer ? input.issuer : undefined;
      filter.evidenceContains = askedSignerNeedles(value, issuer);
    } else if (key !== 'issuer') {
      filter[key] = value;
    }
  }
  if (input.issuer !== undefined && input.signer === undefined) errors.push({ path: 'issuer', message: 'needs signer (the keyless subject)' });
  return { filter, errors };
}

const MAX_FILTER_LENGTH = 512;

/** Why a filter's value cannot be searched for, if it cannot: each is matched as text, whole or as a prefix. */
function filterValueProblem(value: unknown): string | undefined {
  if (Array.isArray(value)) return 'must be given once';
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_FILTER_LENGTH) return `must be at most ${MAX_FILTER_LENGTH} characters (got ${value.length})`;
  // No name, digest or identity holds them, and PostgreSQL refuses NUL in text.
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters';
  return undefined;
}

/** A moment (ISO 8601, or a duration back from now) in the stored ISO form; undefined when it is neither. */
export function parseTime(value: string, now = new Date()): string | undefined {
  const t = parseMoment(value, now.getTime(), 'ago');
  return t === undefined ? undefined : new Date(t).toISOString();
}

export const AUDIT_ORDERS: readonly AuditOrder[] = ['asc', 'desc'];

/**
 * Where the next page starts: after `id` (oldest first) or before it (newest first). Ids only grow, so a
 * cursor stays correct while events arrive.
 */
export interface AuditCursor {
  order: AuditOrder;
  id: number;
}

/** The opaque `cursor`/`next`. It names its order, so it cannot silently continue a page in the other one. */
export function encodeCursor(cursor: AuditCursor): string {
  return Buffer.from(JSON.stringify(cursor.order === 'asc' ? { after: cursor.id } : { before: cursor.id })).toString('base64url');
}

export function decodeCursor(text: string): AuditCursor | undefined {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { after?: unknown; before?: unknown };
    const after = idOf(v.after, 0);
    const before = idOf(v.before, 1);
    if (after !== undefined && v.before === undefined) return { order: 'asc', id: after };
    if (before !== undefined && v.after === undefined) return { order: 'desc', id: before };
    return undefined;
  } catch {
    return undefined;
  }
}

function idOf(value: unknown, min: number): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= min ? (value as number) : undefined;
}

/** Reads a `cursor` given with `order`; the error says what is wrong with it. */
export function readCursor(text: unknown, order: AuditOrder): { cursor?: AuditCursor; error?: string } {
  const cursor = typeof text === 'string' ? decodeCursor(text) : undefined;
  if (!cursor) return { error: 'is not a cursor from this API' };
  if (cursor.order !== order) return { error: `continues a page in order=${cursor.order}; ask with order=${cursor.order} or start again without a cursor` };
  return { cursor };
}

/** The ids a page covers (afterId < id <= uptoId) and the cursor of the page after it, if any. */
export interface PagePlan {
  afterId: number;
  uptoId: number;
  next: AuditCursor | null;
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

  /**
   * The page of at most `limit` events (all when undefined) that `cursor` points at, or the first one:
   * oldest first from the start, or newest first from `newest`. Fixing `newest` before the first page
   * keeps it exact while events keep arriving; later pages follow their cursor, which new events do not move.
   */
  async plan(filter: AuditFilter, order: AuditOrder, cursor: AuditCursor | undefined, limit: number | undefined, newest: number): Promise<PagePlan> {
    if (order === 'asc') {
      const afterId = cursor?.id ?? 0;
      const end = limit === undefined ? null : await this.nextAfter(filter, afterId, limit, newest);
      return { afterId, uptoId: end ?? newest, next: end === null ? null : { order, id: end } };
    }
    const uptoId = cursor ? Math.min(cursor.id - 1, newest) : newest;
    const ids = limit === undefined ? [] : await this.store.idsAt(filter, 0, uptoId, limit - 1, 'desc');
    const end = ids.length === 2 ? ids[0]! : null;
    return { afterId: end === null ? 0 : end - 1, uptoId, next: end === null ? null : { order, id: end } };
  }

  /** The rows of a planned page in its order, in batches. */
  async *pageRows(filter: AuditFilter, order: AuditOrder, plan: PagePlan, batchSize = 500): AsyncGenerator<StoredRow[]> {
    if (order === 'asc') {
      yield* this.batches(filter, plan.afterId, Number.MAX_SAFE_INTEGER, plan.uptoId, batchSize);
      return;
    }
    let upto = plan.uptoId;
    while (upto > plan.afterId) {
      const batch = await this.store.rows(filter, plan.afterId, upto, batchSize, 'desc');
      if (batch.length === 0) return;
      yield batch;
      upto = batch[batch.length - 1]!.id - 1;
    }
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
