import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, policyWarnings } from '../../../src/policy/policy-warnings.js';
import { globMatches } from '../../../src/policy/match.js';
import type { PolicyRule } from '../../../src/policy/types.js';

/** Warnings about valid policies that cannot do what they say: never a false one. */

const UPSTREAMS = new Set(['docker.io', 'ghcr.io']);
const rule = (name: string, ...match: string[]): PolicyRule => ({ name, match, mode: 'allow' });

describe('policy warnings', () => {
  it('warns that an empty policy denies every pull', () => {
    expect(policyWarnings([], UPSTREAMS)).toEqual([{ path: 'policies', message: expect.stringContaining('every pull is denied') }]);
  });

  it('warns about globs whose first part names no configured upstream, with the glob and the upstreams', () => {
    const warnings = policyWarnings(
      [rule('hub', 'library/nginx', 'docker.io/library/*'), rule('quay', 'quay.io/**'), rule('bare', 'nginx'), rule('g', 'gcr*/**')],
      UPSTREAMS,
    );
    expect(warnings.map((w) => w.path)).toEqual(['policies[0].match[0]', 'policies[1].match[0]', 'policies[2].match[0]', 'policies[3].match[0]']);
    expect(warnings[1]!.message).toBe(
      '"quay.io/**" can never match: names are matched as <upstream>/<repository>, and "quay.io" is no configured upstream (upstreams: docker.io, ghcr.io)',
    );
    expect(warnings[0]!.message).toContain('"library" is no configured upstream');
    expect(warnings[2]!.message).toContain('no repository part');
    expect(warnings[3]!.message).toContain('no configured upstream starts with "gcr"');
  });

  it('says nothing when a glob can reach an upstream', () => {
    const rules = [rule('a', 'docker.io/library/*'), rule('b', 'ghcr.io/org/**'), rule('c', '*/org/app'), rule('d', 'gh*/x'), rule('e', '**/app')];
    expect(policyWarnings(rules, UPSTREAMS)).toEqual([]);
  });

  it('warns about a rule after a catch-all, naming the rule that decides instead', () => {
    const warnings = policyWarnings([rule('open', '**'), rule('signed', 'ghcr.io/org/**')], UPSTREAMS);
    expect(warnings).toEqual([
      { path: 'policies[1].match', message: 'rule "signed" never applies: every name it matches is matched first by "open" (the first matching rule decides)' },
    ]);
  });

  it('warns about identical and prefix-covered globs, across several earlier rules', () => {
    const warnings = policyWarnings(
      [rule('org', 'ghcr.io/org/**'), rule('lib', 'docker.io/library/*'), rule('late', 'ghcr.io/org/app', 'docker.io/library/nginx'), rule('same', 'ghcr.io/org/**')],
      UPSTREAMS,
    );
    expect(warnings.map((w) => w.path)).toEqual(['policies[2].match', 'policies[3].match']);
    expect(warnings[0]!.message).toContain('"org", "lib"');
  });

  it('does not warn when only some globs of a rule are covered, or the cover is not certain', () => {
    const rules = [
      rule('lib', 'docker.io/library/*'),
      rule('deeper', 'docker.io/library/nginx/extra'), // `*` stops at a slash
      rule('mixed', 'docker.io/library/alpine', 'ghcr.io/org/app'),
      rule('any', 'docker.io/library/**'), // matches more than `library/*`
      rule('q', 'docker.io/?ibrary/x'),
    ];
    expect(policyWarnings(rules, UPSTREAMS)).toEqual([]);
  });

  it('only claims a cover that matching confirms (every name the covered glob matches, the cover matches)', () => {
    const part = fc.constantFrom('a', 'b', 'ab', '*', '**', '?', 'a*', '*b');
    const glob = fc.array(part, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
    const name = fc.array(fc.constantFrom('a', 'b', 'ab', 'ba', 'abb'), { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));
    fc.assert(
      // The cover is often made from a piece of the covered glob, so that claims are tested, not just refusals.
      fc.property(glob, glob, fc.nat(), fc.constantFrom('*', '**', ''), fc.array(name, { minLength: 30, maxLength: 30 }), (other, g, cut, tail, names) => {
        const h = tail ? g.slice(0, cut % (g.length + 1)) + tail : other;
        if (!covers(h, g)) return;
        for (const n of names) if (globMatches(g, n)) expect(globMatches(h, n), `${h} should match ${n} (matched by ${g})`).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
