import type { PolicyRule } from './types.js';

/**
 * Globs over canonical names (`<upstream>/<repository>`): `*` matches within one path segment, `**` matches
 * any number of segments (including none when it stands between slashes). Compiled to anchored regexps.
 */
const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          src += '(?:.*/)?';
        } else {
          src += '.*';
        }
      } else {
        src += '[^/]*';
      }
    } else if (c === '?') {
      src += '[^/]';
    } else {
      src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  re = new RegExp(`^${src}$`);
  cache.set(glob, re);
  return re;
}

export function globMatches(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}

/** The first rule whose globs match the canonical name, or undefined (which denies). */
export function matchRule(rules: readonly PolicyRule[], canonicalName: string): PolicyRule | undefined {
  return rules.find((rule) => rule.match.some((glob) => globMatches(glob, canonicalName)));
}
