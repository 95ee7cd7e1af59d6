/**
 * The one grammar for lengths of time and moments, shared by the config file, the admin API and the CLI.
 * A duration is a number and a unit: `500ms`, `30s`, `1.5h`, `15m`, `7d` (no spaces, no compound forms).
 * A moment is an ISO 8601 / RFC 3339 time (`2026-12-01`, `2026-12-01T12:00:00Z`, `…+02:00`; UTC when it
 * names no offset, so the server and the CLI read it alike) or a duration counted from now.
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)$';
const DURATION_RE = new RegExp(DURATION_PATTERN);
/** Longer than anything meant (a century): larger numbers are refused, never overflow a date or a timer. */
export const MAX_DURATION_MS = 36_500 * UNIT_MS.d;

export const DURATION_EXAMPLES = '"30s", "15m", "4h" or "7d"';
export const DURATION_MESSAGE = `must be a duration such as ${DURATION_EXAMPLES}`;
export const MOMENT_AGO_MESSAGE = `must be an ISO 8601 time or a duration back from now such as ${DURATION_EXAMPLES}`;
export const MOMENT_AHEAD_MESSAGE = `must be an ISO 8601 time or a duration from now such as ${DURATION_EXAMPLES}`;

/** Milliseconds, or undefined for anything outside the grammar or above MAX_DURATION_MS. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text);
  if (!m) return undefined;
  const unit = m[2] as keyof typeof UNIT_MS;
  const ms = Math.round(Number(text.slice(0, -unit.length)) * UNIT_MS[unit]);
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/** `30d`, `1s`, `1500ms`: the largest unit that states `ms` exactly. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

export interface DurationRange {
  min?: number;
  max?: number;
}

/** ` (at least 1s)`, ` (at most 30d)`, ` (from 1s to 1d)`, or nothing: how every caller states its range. */
export function rangeText(range: DurationRange = {}): string {
  const { min, max } = range;
  if (min !== undefined && max !== undefined) return ` (from ${formatDuration(min)} to ${formatDuration(max)})`;
  if (min !== undefined) return ` (at least ${formatDuration(min)})`;
  if (max !== undefined) return ` (at most ${formatDuration(max)})`;
  return '';
}

/** The message for a bad duration: the grammar, then the caller's range. */
export function durationMessage(range: DurationRange = {}): string {
  return `${DURATION_MESSAGE}${rangeText(range)}`;
}

/** A duration within `range` in ms, or the message that says what is wrong with it. */
export function readDuration(text: unknown, range: DurationRange = {}): { ms: number } | { error: string } {
  if (typeof text !== 'string') return { error: durationMessage(range) };
  const ms = parseDuration(text);
  if (ms === undefined) {
    return { error: DURATION_RE.test(text) && range.max === undefined ? durationMessage({ ...range, max: MAX_DURATION_MS }) : durationMessage(range) };
  }
  if ((range.min !== undefined && ms < range.min) || (range.max !== undefined && ms > range.max)) return { error: durationMessage(range) };
  return { ms };
}

const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 / RFC 3339 time in ms since the epoch, or undefined (also for days and hours that do not exist). */
export function parseInstant(text: string): number | undefined {
  const m = INSTANT_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v)));
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const local = Date.UTC(year!, month! - 1, day!, hour, minute, second, ms);
  const d = new Date(local);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month! - 1 || d.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  const offset = m[8] === undefined || /z/i.test(m[8]) ? 0 : offsetMs(m[8]);
  return offset === undefined ? undefined : local - offset;
}

function offsetMs(text: string): number | undefined {
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 23 || minutes > 59) return undefined;
  return (text[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/**
 * A moment: an ISO 8601 time, or a duration counted back from `now` (`ago`, as audit `since`) or
 * forward (`ahead`, as an exception's `until`). Ms since the epoch, or undefined.
 */
export function parseMoment(text: string, now: number, direction: 'ago' | 'ahead'): number | undefined {
  const ms = parseDuration(text);
  const t = ms === undefined ? parseInstant(text) : direction === 'ago' ? now - ms : now + ms;
  return t !== undefined && Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? t : undefined;
}
