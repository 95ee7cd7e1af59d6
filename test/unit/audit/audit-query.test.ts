import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, parseAuditFilter, parseTime, readCursor } from '../../../src/audit/audit-query.js';

describe('audit filters', () => {
  const now = new Date('2025-06-08T12:00:00Z');

  it('normalises times to the stored ISO form and reads durations back from now', () => {
    expect(parseTime('2025-06-01', now)).toBe('2025-06-01T00:00:00.000Z');
    expect(parseTime('2025-06-01T10:00:00+02:00', now)).toBe('2025-06-01T08:00:00.000Z');
    expect(parseTime('7d', now)).toBe('2025-06-01T12:00:00.000Z');
    expect(parseTime('90m', now)).toBe('2025-06-08T10:30:00.000Z');
    expect(parseTime('last week', now)).toBeUndefined();
    expect(parseTime('12345', now)).toBeUndefined();
  });

  it('takes a duration reaching back before any date for no time, rather than throwing', () => {
    expect(parseTime('99999999999d', now)).toBeUndefined();
    expect(parseTime(`${'9'.repeat(400)}m`, now)).toBeUndefined();
    expect(parseAuditFilter({ since: '99999999999d' }, now).errors).toEqual([{ path: 'since', message: expect.stringContaining('ISO 8601') }]);
  });

  it('reports every bad filter at once and keeps the good ones', () => {
    const { filter, errors } = parseAuditFilter({ decision: 'nope', since: 'soon', user: 'ci', repository: '' }, now);
    expect(filter).toEqual({ user: 'ci' });
    expect(errors.map((e) => e.path).sort()).toEqual(['decision', 'repository', 'since']);
  });

  it('round-trips cursors and rejects anything else', () => {
    expect(decodeCursor(encodeCursor({ order: 'asc', id: 41 }))).toEqual({ order: 'asc', id: 41 });
    expect(decodeCursor(encodeCursor({ order: 'desc', id: 41 }))).toEqual({ order: 'desc', id: 41 });
    expect(decodeCursor('not-a-cursor')).toBeUndefined();
    expect(decodeCursor(Buffer.from('{"after":-1}').toString('base64url'))).toBeUndefined();
    expect(decodeCursor(Buffer.from('{"before":0}').toString('base64url'))).toBeUndefined();
    expect(decodeCursor(Buffer.from('{"after":3,"before":9}').toString('base64url'))).toBeUndefined();
  });

  it('refuses a cursor given with the other order, saying which order it belongs to', () => {
    const newestFirst = encodeCursor({ order: 'desc', id: 9 });
    expect(readCursor(newestFirst, 'desc')).toEqual({ cursor: { order: 'desc', id: 9 } });
    expect(readCursor(newestFirst, 'asc').error).toMatch(/order=desc/);
    expect(readCursor(42, 'asc').error).toMatch(/not a cursor/);
  });
});
