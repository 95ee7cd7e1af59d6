/**
 * Names a caller may give (query parameters, body fields): anything else is refused rather than ignored, since
 * an ignored misspelling (`?dryrun=true`, `?decison=deny`) silently does something else than was asked.
 */

export interface NameError {
  path: string;
  message: string;
}

/** The known name within two edits of `name` (case aside), if there is one. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    // Two edits cannot bridge a greater difference in length (and a huge key is not compared at all).
    if (Math.abs(k.length - name.length) > 2) continue;
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance. */
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
 * One error per key of `input` that is not in `known`, naming it (with a close known name, if any) and what
 * is known. `what` says what the keys are: "parameter of this endpoint", "field of this body".
 */
export function unknownNames(input: Record<string, unknown>, known: readonly string[], what: string): NameError[] {
  const list = known.length > 0 ? known.join(', ') : 'none';
  return Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const close = closestName(key, known);
      return { path: key, message: `is not a ${what}${close ? ` (did you mean ${close}?)` : ''}; known: ${list}` };
    });
}
