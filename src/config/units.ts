/** Sizes like "512MiB", "20GiB", "1GB", or a plain number; durations are read by text/duration.ts. */
export { parseDuration } from '../text/duration.js';
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3, TB: 1e12, TiB: 1024 ** 4,
};

export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE_RE.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']!);
}
