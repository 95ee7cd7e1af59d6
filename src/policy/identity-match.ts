/**
 * Exact-or-pattern string matching for identities, builders and repositories. Patterns always match the
 * WHOLE string: `foo@example\.com` never matches `evilfoo@example.com.attacker.net`.
 */
const compiled = new Map<string, RegExp>();

export function anchored(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`, 'u');
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/** Whether a pattern compiles; returns the error message when it does not. */
export function regExpError(pattern: string): string | undefined {
  try {
    anchored(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** True when neither constraint is set, or every set constraint holds. */
export function matchesField(value: string | undefined, exact: string | undefined, pattern: string | undefined): boolean {
  if (exact === undefined && pattern === undefined) return true;
  if (value === undefined) return false;
  if (exact !== undefined && value !== exact) return false;
  if (pattern !== undefined && !anchored(pattern).test(value)) return false;
  return true;
}
