/**
 * "Did you mean …?" for names a person typed: CLI options, config keys, CEL fields. One distance for all,
 * so a typo is forgiven the same way everywhere.
 */

/** Levenshtein distance: insertions, deletions and substitutions each cost one. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/**
 * The known name closest to `name`, ignoring case and `-`/`_` (so `dryrun`, `dry_run` and `DryRun` all find
 * `dry-run`), if it is within `maxDistance` edits and the edits are fewer than half the name (a two-letter
 * name is not "close" to every other two-letter name). Ties go to the first known name.
 */
export function closestName(name: string, known: Iterable<string>, maxDistance = 2): string | undefined {
  const plain = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const typed = plain(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    if (k === name) continue;
    const candidate = plain(k);
    // More edits than allowed cannot bridge a greater difference in length, and a huge input is never compared.
    if (Math.abs(candidate.length - typed.length) > maxDistance) continue;
    const d = editDistance(typed, candidate);
    if (d < bestDistance && d <= maxDistance && (d === 0 || d * 2 < typed.length)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean X?)`, or nothing when no known name is close. `show` writes the suggestion as it should be typed. */
export function didYouMean(name: string, known: Iterable<string>, show: (k: string) => string = (k) => k): string {
  const best = closestName(name, known);
  return best === undefined ? '' : ` (did you mean ${show(best)}?)`;
}
