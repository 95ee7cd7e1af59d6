import { parseTime, unknownParameters } from './audit-query.js';
import { MOMENT_AGO_MESSAGE } from '../text/duration.js';

export const SUMMARY_BY = ['image', 'user', 'rule', 'decision'] as const;
export type SummaryBy = (typeof SUMMARY_BY)[number];
export const BUCKETS = { '1h': 3_600_000, '1d': 86_400_000 } as const;
export type Bucket = keyof typeof BUCKETS;

export const SUMMARY_PARAMS = ['since', 'until', 'by', 'bucket', 'limit'] as const;
export const MAX_GROUPS = 100;
export const MAX_BUCKETS = 2000;
/** Up to this range the default bucket is an hour, beyond it a day. */
const HOURLY_UP_TO_MS = 48 * 3_600_000;

export interface SummaryParams {
  since: string;
  until: string;
  by: SummaryBy;
  bucket: Bucket;
  limit: number;
}

/**
 * Reads /audit/summary's parameters (times as /audit/events), reporting every bad or unknown one. The range
 * must hold at most 2000 buckets, counted from `since` floored to the bucket.
 */
export function parseSummaryParams(
  input: Record<string, unknown>,
  now = new Date(),
): { params?: SummaryParams; errors: { path: string; message: string }[] } {
  const errors = unknownParameters(input, SUMMARY_PARAMS);
  const text = (key: string): string | undefined => {
    const v = input[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.length > 0 && v.length <= 512) return v;
    errors.push({ path: key, message: 'must be a non-empty string' });
    return undefined;
  };
  const time = (key: string, fallback: string): string | undefined => {
    const v = text(key);
    if (v === undefined) return input[key] === undefined ? parseTime(fallback, now) : undefined;
    const t = parseTime(v, now);
    if (!t) errors.push({ path: key, message: MOMENT_AGO_MESSAGE });
    return t;
  };
  const since = time('since', '7d');
  const until = input.until === undefined ? now.toISOString() : time('until', '');
  const by = text('by') ?? (input.by === undefined ? 'image' : undefined);
  if (by !== undefined && !(SUMMARY_BY as readonly string[]).includes(by)) errors.push({ path: 'by', message: `must be ${SUMMARY_BY.join(', ')}` });
  const bucketText = text('bucket');
  if (bucketText !== undefined && !(bucketText in BUCKETS)) errors.push({ path: 'bucket', message: 'must be 1h or 1d' });
  let limit = 10;
  const limitText = text('limit');
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_GROUPS) errors.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_GROUPS}` });
  }
  if (errors.length > 0 || !since || !until) return { errors };
  const range = Date.parse(until) - Date.parse(since);
  if (range <= 0) return { errors: [{ path: 'until', message: 'must be later than since' }] };
  const bucket = (bucketText as Bucket | undefined) ?? (range <= HOURLY_UP_TO_MS ? '1h' : '1d');
  const buckets = bucketCount(since, until, bucket);
  if (buckets > MAX_BUCKETS) {
    return { errors: [{ path: 'bucket', message: `the range holds ${buckets} buckets of ${bucket}; at most ${MAX_BUCKETS} are allowed (narrow the range or use 1d)` }] };
  }
  return { params: { since, until, by: by as SummaryBy, bucket, limit }, errors };
}

/** The start of the UTC-aligned bucket holding `time`, in ms. */
export function bucketStart(time: string | number, bucket: Bucket): number {
  const ms = typeof time === 'number' ? time : Date.parse(time);
  return Math.floor(ms / BUCKETS[bucket]) * BUCKETS[bucket];
}

export function bucketCount(since: string, until: string, bucket: Bucket): number {
  return Math.ceil((Date.parse(until) - bucketStart(since, bucket)) / BUCKETS[bucket]);
}
