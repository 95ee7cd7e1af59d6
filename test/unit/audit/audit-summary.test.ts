import { describe, expect, it } from 'vitest';
import { SummaryFold } from '../../../src/audit/audit-summary.js';
import { parseSummaryParams, type SummaryParams } from '../../../src/audit/summary-params.js';
import type { DecisionRow } from '../../../src/db/types.js';

const NOW = new Date('2025-06-08T12:30:00Z');
let nextId = 1;

function pull(time: string, over: Partial<DecisionRow> = {}): DecisionRow {
  return {
    id: nextId++, time, client: '10.0.0.1', user: 'ci', repository: 'docker.io/library/nginx', reference: '1.27',
    digest: `sha256:${'a'.repeat(64)}`, decision: 'allow', policy: 'signed', reasons: '[]', ...over,
  };
}

const params = (over: Partial<SummaryParams> = {}): SummaryParams => ({
  since: '2025-06-08T10:20:00.000Z', until: '2025-06-08T12:30:00.000Z', by: 'image', bucket: '1h', limit: 10, ...over,
});

function fold(rows: DecisionRow[], p = params()) {
  const f = new SummaryFold(p);
  // The store hands rows over in time order.
  for (const r of [...rows].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))) f.add(r);
  return f.result();
}

describe('audit summary fold', () => {
  it('counts a HEAD and GET of one manifest by one client as one pull, for 60 s from the first', () => {
    const s = fold([
      pull('2025-06-08T11:00:00.000Z'),
      pull('2025-06-08T11:00:00.400Z'), // the GET after the HEAD
      pull('2025-06-08T11:00:59.999Z'), // still inside the first one's minute
      pull('2025-06-08T11:01:00.000Z'), // a new pull: 60 s after the first
      pull('2025-06-08T11:01:30.000Z'), // inside the new one's minute
      pull('2025-06-08T11:00:01.000Z', { user: 'other' }), // another client
      pull('2025-06-08T11:00:01.000Z', { user: null, client: '10.0.0.2' }),
      pull('2025-06-08T11:00:01.500Z', { user: null, client: '10.0.0.2' }),
      pull('2025-06-08T11:00:02.000Z', { digest: `sha256:${'b'.repeat(64)}` }), // another manifest
      pull('2025-06-08T11:00:03.000Z', { decision: 'deny', reasons: '["no signature"]' }), // another decision
      pull('2025-06-08T11:00:04.000Z', { repository: 'docker.io/library/redis' }),
    ]);
    expect(s.totals).toEqual({ pulls: 7, allowed: 6, denied: 1, warned: 0 });
  });

  it('tells pulls without a digest apart by reference', () => {
    const s = fold([
      pull('2025-06-08T11:00:00.000Z', { digest: null, reference: 'latest', decision: 'deny' }),
      pull('2025-06-08T11:00:00.100Z', { digest: null, reference: 'latest', decision: 'deny' }),
      pull('2025-06-08T11:00:00.200Z', { digest: null, reference: '1.0', decision: 'deny' }),
    ]);
    expect(s.totals.denied).toBe(2);
  });

  it('puts each pull in its UTC bucket, from since floored to the bucket, empty buckets included', () => {
    const s = fold([pull('2025-06-08T10:20:00.000Z'), pull('2025-06-08T12:29:59.000Z', { decision: 'warn' })]);
    expect(s.series).toEqual([
      { start: '2025-06-08T10:00:00.000Z', pulls: 1, allowed: 1, denied: 0, warned: 0 },
      { start: '2025-06-08T11:00:00.000Z', pulls: 0, allowed: 0, denied: 0, warned: 0 },
      { start: '2025-06-08T12:00:00.000Z', pulls: 1, allowed: 0, denied: 0, warned: 1 },
    ]);
    const daily = fold([pull('2025-06-08T11:00:00.000Z')], params({ since: '2025-06-01T23:00:00.000Z', bucket: '1d' }));
    expect(daily.series.map((b) => b.start)).toEqual(
      ['01', '02', '03', '04', '05', '06', '07', '08'].map((d) => `2025-06-${d}T00:00:00.000Z`),
    );
    expect(daily.series.at(-1)!.pulls).toBe(1);
  });

  it('groups by image, user, rule or decision, most denied first, then most pulls, then key', () => {
    const rows = [
      pull('2025-06-08T11:00:00.000Z', { repository: 'r/a' }),
      pull('2025-06-08T11:00:00.000Z', { repository: 'r/a', user: 'u2' }),
      pull('2025-06-08T11:00:00.000Z', { repository: 'r/a', user: 'u3' }),
      pull('2025-06-08T11:00:01.000Z', { repository: 'r/b', decision: 'deny', reasons: '["unsigned","old"]', policy: null }),
      pull('2025-06-08T11:00:02.000Z', { repository: 'r/c', user: null, client: '10.9.9.9' }),
      pull('2025-06-08T11:00:02.000Z', { repository: 'r/d', user: null, client: '10.9.9.9', decision: 'warn', policy: 'soft' }),
    ];
    const keys = (by: SummaryParams['by'], limit = 10) => fold(rows, params({ by, limit })).groups.map((g) => [g.key, g.pulls, g.denied]);
    expect(keys('image')).toEqual([['r/b', 1, 1], ['r/a', 3, 0], ['r/c', 1, 0], ['r/d', 1, 0]]);
    expect(keys('image', 2)).toEqual([['r/b', 1, 1], ['r/a', 3, 0]]);
    expect(keys('user')).toEqual([['ci', 2, 1], ['anonymous (10.9.9.9)', 2, 0], ['u2', 1, 0], ['u3', 1, 0]]);
    expect(keys('rule')).toEqual([['(no rule)', 1, 1], ['signed', 4, 0], ['soft', 1, 0]]);
    expect(keys('decision')).toEqual([['deny', 1, 1], ['allow', 4, 0], ['warn', 1, 0]]);
  });

  it('lists the top three reasons of a group’s denials with their counts', () => {
    const deny = (t: string, reasons: string[], user = 'ci') => pull(t, { decision: 'deny', reasons: JSON.stringify(reasons), user });
    const s = fold([
      deny('2025-06-08T11:00:00.000Z', ['no signature', 'too old']),
      deny('2025-06-08T11:00:00.100Z', ['no signature', 'too old']), // the GET: not counted again
      deny('2025-06-08T11:00:00.000Z', ['no signature'], 'u2'),
      deny('2025-06-08T11:00:00.000Z', ['no signature', 'bad base'], 'u3'),
      deny('2025-06-08T11:00:00.000Z', ['revoked', 'too old'], 'u4'),
      deny('2025-06-08T11:00:00.000Z', ['zzz'], 'u5'),
      pull('2025-06-08T11:00:00.000Z', { repository: 'r/ok', reasons: '["note"]' }),
    ]);
    expect(s.groups[0]).toEqual({
      key: 'docker.io/library/nginx', pulls: 5, allowed: 0, denied: 5, warned: 0,
      reasons: [{ reason: 'no signature', count: 3 }, { reason: 'too old', count: 2 }, { reason: 'bad base', count: 1 }],
    });
    expect(s.groups[1]).toMatchObject({ key: 'r/ok', reasons: [] });
  });
});

describe('audit summary parameters', () => {
  const parse = (q: Record<string, unknown>) => parseSummaryParams(q, NOW);

  it('defaults to the last 7 days by image, daily, top 10; hourly up to 48 h', () => {
    expect(parse({}).params).toEqual({
      since: '2025-06-01T12:30:00.000Z', until: '2025-06-08T12:30:00.000Z', by: 'image', bucket: '1d', limit: 10,
    });
    expect(parse({ since: '48h' }).params?.bucket).toBe('1h');
    expect(parse({ since: '49h' }).params?.bucket).toBe('1d');
    expect(parse({ since: '2025-06-01', until: '2025-06-02', by: 'rule', bucket: '1d', limit: '100' }).params).toEqual({
      since: '2025-06-01T00:00:00.000Z', until: '2025-06-02T00:00:00.000Z', by: 'rule', bucket: '1d', limit: 100,
    });
  });

  it('reports every bad or unknown parameter', () => {
    const { params, errors } = parse({ since: 'yesterday', by: 'repo', bucket: '5m', limit: '101', group: 'x' });
    expect(params).toBeUndefined();
    expect(errors.map((e) => e.path).sort()).toEqual(['bucket', 'by', 'group', 'limit', 'since']);
    expect(parse({ limit: '0' }).errors.map((e) => e.path)).toEqual(['limit']);
    expect(parse({ limit: '2.5' }).errors.map((e) => e.path)).toEqual(['limit']);
    expect(parse({ since: '1h', until: '2h' }).errors).toEqual([{ path: 'until', message: 'must be later than since' }]);
  });

  it('refuses a range of more than 2000 buckets', () => {
    expect(parse({ since: '83d', bucket: '1h' }).params?.bucket).toBe('1h'); // 1993 hours, floored
    const tooMany = parse({ since: '84d', bucket: '1h' });
    expect(tooMany.params).toBeUndefined();
    expect(tooMany.errors).toEqual([{ path: 'bucket', message: expect.stringContaining('at most 2000') }]);
    expect(parse({ since: '2000-01-01' }).errors).toEqual([{ path: 'bucket', message: expect.stringContaining('buckets of 1d') }]);
  });
});
