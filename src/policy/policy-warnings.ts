import type { PolicyRule } from './types.js';
import type { RuleError } from './validate.js';

/**
 * Mistakes that leave a valid policy doing something its author probably did not mean: a glob that can
 * never match (its first path part is no configured upstream), a rule that never applies (an earlier rule
 * matches every name it matches: first match wins), and no rules at all (every pull is denied).
 *
 * Conservative: a warning is only given when it is certainly true. Shadowing is found for the clear cases
 * (the same glob, an earlier `**`, an earlier literal prefix followed by `**` or `*`), not in general.
 */
export function policyWarnings(rules: readonly PolicyRule[], upstreams: ReadonlySet<string>): RuleError[] {
  if (rules.length === 0) return [{ path: 'policies', message: 'the policy has no rules: every pull is denied' }];
  const warnings: RuleError[] = [];
  rules.forEach((rule, i) => {
    rule.match.forEach((glob, j) => {
      const why = neverMatches(glob, upstreams);
      if (why !== undefined) {
        warnings.push({
          path: `policies[${i}].match[${j}]`,
          message: `"${glob}" can never match: names are matched as <upstream>/<repository>, and ${why} (upstreams: ${[...upstreams].join(', ') || 'none'})`,
        });
      }
    });
    const shadowing = new Set<string>();
    const covered = rule.match.every((glob) => {
      const earlier = rules.slice(0, i).find((r) => r.match.some((h) => covers(h, glob)));
      if (earlier) shadowing.add(earlier.name);
      return earlier !== undefined;
    });
    if (covered) {
      warnings.push({
        path: `policies[${i}].match`,
        message: `rule "${rule.name}" never applies: every name it matches is matched first by ${[...shadowing].map((n) => `"${n}"`).join(', ')} (the first matching rule decides)`,
      });
    }
  });
  return warnings;
}

const WILDCARD = /[*?]/;

/** Why no name can match the glob, judged by its first path part; undefined when one can (or may). */
function neverMatches(glob: string, upstreams: ReadonlySet<string>): string | undefined {
  const wild = glob.search(WILDCARD);
  const literal = wild === -1 ? glob : glob.slice(0, wild);
  const slash = literal.indexOf('/');
  if (slash >= 0) {
    const first = literal.slice(0, slash);
    return upstreams.has(first) ? undefined : `"${first}" is no configured upstream`;
  }
  // Every name has a slash after its upstream; a glob without wildcards or slash matches none.
  if (wild === -1) return 'it has no repository part';
  // The first part starts with the literal text, which some upstream name must start with.
  return [...upstreams].some((u) => u.startsWith(literal)) ? undefined : `no configured upstream starts with "${literal}"`;
}

/** Whether every name glob `g` matches is matched by glob `h` too (only the certain cases). */
export function covers(h: string, g: string): boolean {
  if (h === g || h === '**') return true;
  const wild = h.search(WILDCARD);
  if (wild === -1) return false;
  const prefix = h.slice(0, wild);
  const rest = h.slice(wild);
  // `prefix**`: any name starting with prefix. g starts with the same literal text, so its names do too.
  if (rest === '**') return g.startsWith(prefix);
  // `prefix*`: prefix and then anything without a slash. g must add only what cannot hold a slash.
  if (rest === '*') return g.startsWith(prefix) && !g.slice(prefix.length).includes('/') && !g.slice(prefix.length).includes('**');
  return false;
}
