import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatches, matchRule } from '../../../src/policy/match.js';

/**
 * `match` globs run in linear time: a glob an admin writes and a name a client chooses cannot hold up
 * the proxy, and the documented glob semantics are unchanged.
 */

const HOSTILE_GLOB = 'docker.io/**-**-**-**-**-**-**-**-x';
/** 60 segments, each with a dash: the longest repository name the proxy accepts is 255 characters. */
const SIXTY_SEGMENTS = Array.from({ length: 60 }, () => 'a-a').join('/');

/** The regexp translation matching used before (backtracking), kept as the reference for the semantics. */
function referenceRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          src += '(?:.*/)?';
        } else src += '.*';
      } else src += '[^/]*';
    } else if (c === '?') src += '[^/]';
    else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${src}$`);
}

describe('glob matching in linear time', () => {
  it('answers a hostile glob against a 60-segment name at once, and correctly', () => {
    const started = performance.now();
    expect(globMatches(HOSTILE_GLOB, `docker.io/${SIXTY_SEGMENTS}`)).toBe(false);
    expect(globMatches(HOSTILE_GLOB, `docker.io/${SIXTY_SEGMENTS}-x`)).toBe(true);
    const rules = [
      { name: 'hostile', match: [HOSTILE_GLOB, '**/*-*-*-*-*-*-*-*-*-*-z'], mode: 'deny' as const },
      { name: 'nested', match: ['**/**/**/**/**/**/**/**/**/**/b'], mode: 'deny' as const },
    ];
    expect(matchRule(rules, `docker.io/${SIXTY_SEGMENTS}`)).toBeUndefined();
    // A frozen proxy took over a minute here; a generous bound that is still far below it.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('keeps the documented semantics: * one segment, ** any number, ? one character, the rest literal', () => {
    const cases: Array<[string, string, boolean]> = [
      ['ghcr.io/acme/*', 'ghcr.io/acme/app', true],
      ['ghcr.io/acme/*', 'ghcr.io/acme/app/sub', false],
      ['ghcr.io/acme/*', 'ghcr.io/acme/', true],
      ['docker.io/acme/**', 'docker.io/acme/a/b/c', true],
      ['docker.io/acme/**', 'docker.io/acmecorp/a', false],
      ['docker.io/**/app', 'docker.io/app', true],
      ['docker.io/**/app', 'docker.io/a/b/app', true],
      ['docker.io/**/app', 'docker.io/a/bapp', false],
      ['docker.io/lib?', 'docker.io/lib1', true],
      ['docker.io/lib?', 'docker.io/lib/', false],
      ['docker.io/lib?', 'docker.io/lib12', false],
      ['**', 'anything/at/all', true],
      ['**', '', true],
      ['ghcr.io/a.b/*', 'ghcr.io/aXb/c', false],
      ['ghcr.io/a+b/(x)|[y]', 'ghcr.io/a+b/(x)|[y]', true],
      ['ghcr.io/a+b/(x)|[y]', 'ghcr.io/aab/x', false],
      ['registry.k8s.io/pause', 'registry.k8s.io/pause', true],
      ['registry.k8s.io/pause', 'registry.k8s.io/pause2', false],
      ['*-debug', 'app-debug', true],
      ['**/*-debug', 'docker.io/x/app-debug', true],
      ['**/*-debug', 'docker.io/x-debug/app', false],
      ['a**b', 'a/x/b', true],
      ['a***b', 'a/x/yb', true],
      ['a***b', 'a/x/y/b', true],
    ];
    for (const [glob, name, expected] of cases) expect([glob, name, globMatches(glob, name)]).toEqual([glob, name, expected]);
  });

  it('agrees with the former regexp translation on random globs and names', () => {
    const globPart = fc.constantFrom('a', 'b', '-', '.', '/', '*', '**', '**/', '?', '/**/', '+', '(');
    const namePart = fc.constantFrom('a', 'b', '-', '.', '/', '+', '(');
    fc.assert(
      fc.property(
        fc.array(globPart, { maxLength: 8 }).map((p) => p.join('')),
        fc.array(namePart, { maxLength: 12 }).map((p) => p.join('')),
        (glob, name) => globMatches(glob, name) === referenceRegExp(glob).test(name),
      ),
      { numRuns: 5000 },
    );
  });

  it('picks the first rule whose globs match', () => {
    const rules = [
      { name: 'a', match: ['docker.io/acme/**'], mode: 'deny' as const },
      { name: 'b', match: ['ghcr.io/*', '**'], mode: 'allow' as const },
    ];
    expect(matchRule(rules, 'docker.io/acme/x')?.name).toBe('a');
    expect(matchRule(rules, 'docker.io/other/x')?.name).toBe('b');
    expect(matchRule([], 'x')).toBeUndefined();
  });
});
