import { describe, expect, it } from 'vitest';
import {
  durationMessage,
  formatDuration,
  MAX_DURATION_MS,
  parseDuration,
  parseInstant,
  parseMoment,
  readDuration,
} from '../../../src/text/duration.js';

describe('the duration grammar', () => {
  it.each([
    ['500ms', 500],
    ['0s', 0],
    ['4s', 4_000],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1.5h', 5_400_000],
    ['4h', 14_400_000],
    ['7d', 604_800_000],
    ['0.5s', 500],
    ['36500d', MAX_DURATION_MS],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '', '4', 's', '4w', '1h30m', '-4s', '+4s', '4 s', ' 4s', '4s ', '4S', '4sec', '.5s', '1e3s', '0x10s', '4.s',
    '36501d', '99999999999d', `${'9'.repeat(400)}m`,
  ])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('words every refusal the same way, with the range where one applies', () => {
    expect(readDuration('4w')).toEqual({ error: 'must be a duration such as "30s", "15m", "4h" or "7d"' });
    expect(readDuration(4)).toEqual({ error: 'must be a duration such as "30s", "15m", "4h" or "7d"' });
    expect(readDuration('500ms', { min: 1000 })).toEqual({ error: 'must be a duration such as "30s", "15m", "4h" or "7d" (at least 1s)' });
    expect(readDuration('31d', { max: 30 * 86_400_000 })).toEqual({ error: 'must be a duration such as "30s", "15m", "4h" or "7d" (at most 30d)' });
    expect(readDuration('99999999999d')).toEqual({ error: 'must be a duration such as "30s", "15m", "4h" or "7d" (at most 36500d)' });
    expect(readDuration('2s', { min: 1000, max: 86_400_000 })).toEqual({ ms: 2000 });
    expect(durationMessage({ min: 1000, max: 86_400_000 })).toMatch(/\(from 1s to 1d\)$/);
  });

  it('states lengths in the largest exact unit', () => {
    expect([1, 1500, 1000, 90_000, 3_600_000, 30 * 86_400_000].map(formatDuration)).toEqual(['1ms', '1500ms', '1s', '90s', '1h', '30d']);
  });
});

describe('instants', () => {
  it.each([
    ['2025-06-01', '2025-06-01T00:00:00.000Z'],
    ['2025-06-01T10:00:00Z', '2025-06-01T10:00:00.000Z'],
    ['2025-06-01T10:00:00.123456Z', '2025-06-01T10:00:00.123Z'],
    ['2025-06-01T10:00:00+02:00', '2025-06-01T08:00:00.000Z'],
    ['2025-06-01T10:00:00-0130', '2025-06-01T11:30:00.000Z'],
    ['2025-06-01t10:00z', '2025-06-01T10:00:00.000Z'],
    ['2025-06-01 10:00:00Z', '2025-06-01T10:00:00.000Z'],
    ['2025-06-01T10:00', '2025-06-01T10:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
  ])('reads %j as %s', (text, iso) => {
    expect(new Date(parseInstant(text)!).toISOString()).toBe(iso);
  });

  it.each(['2025-02-30', '2025-13-01', '2025-06-01T24:00:00Z', '2025-06-01T10:60Z', '2025-06-01T10:00:00+25:00', '2025-06-01junk', 'June 1', '1748736000', '25-06-01'])(
    'refuses %j',
    (text) => {
      expect(parseInstant(text)).toBeUndefined();
    },
  );

  it('reads a moment as an instant or a duration back from (or ahead of) now', () => {
    const now = Date.parse('2025-06-08T12:00:00Z');
    expect(parseMoment('4s', now, 'ago')).toBe(now - 4_000);
    expect(parseMoment('4h', now, 'ahead')).toBe(now + 14_400_000);
    expect(parseMoment('2025-06-01', now, 'ago')).toBe(Date.parse('2025-06-01T00:00:00Z'));
    expect(parseMoment('99999999999d', now, 'ago')).toBeUndefined();
    expect(parseMoment('last week', now, 'ago')).toBeUndefined();
  });
});
