import { ReportError, type Severity } from './types.js';

/** Findings kept from one report: far more than any real image has, and a bound on what a hostile one costs. */
export const MAX_FINDINGS = 100_000;

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

export function severityOf(v: unknown): Severity {
  const s = typeof v === 'string' ? v.toLowerCase() : '';
  if (s === 'critical' || s === 'high' || s === 'medium' || s === 'low') return s;
  if (s === 'moderate') return 'medium';
  return 'unknown';
}

export function maxScore(scores: Iterable<unknown>): number | undefined {
  let best: number | undefined;
  for (const s of scores) {
    const n = typeof s === 'string' ? Number(s) : s;
    if (typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 10 && (best === undefined || n > best)) best = n;
  }
  return best;
}

export function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new ReportError(`${what} is not an array`);
  return v;
}

export function object(v: unknown, what: string): Record<string, any> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ReportError(`${what} is not an object`);
  return v as Record<string, any>;
}

/** The tool name in a purl-like scanner uri: `pkg:github/aquasecurity/trivy@v0.50.0` → `trivy`. */
export function scannerName(uri: unknown): string | undefined {
  const u = str(uri);
  if (!u) return undefined;
  const path = u.split('@')[0]!.split('?')[0]!;
  return path.split('/').filter(Boolean).pop()?.toLowerCase();
}

export function checkCount(n: number): void {
  if (n > MAX_FINDINGS) throw new ReportError(`the report lists more than ${MAX_FINDINGS} findings`);
}
