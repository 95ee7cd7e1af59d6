import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import { matchesField } from '../../../src/policy/identity-match.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence } from '../../../src/verify/types.js';

/**
 * Identity, builder and repository patterns run with RE2 semantics (linear time), as in cosign and
 * policy-controller: a pattern an admin writes cannot be turned into a freeze by a certificate identity
 * someone else chose, and patterns still match the whole string.
 */

const NOW = new Date('2025-06-01T00:00:00Z');

function signedBy(subject: string): Evidence {
  return {
    subject: `sha256:${'a'.repeat(64)}` as Digest,
    signatures: [
      {
        source: 'sig-tag',
        artifactDigest: 'sha256:sig',
        signer: { type: 'keyless', issuer: 'https://accounts.example', subject, roots: ['default'], extensions: {} },
        tlog: { logIndex: 1, integratedTime: NOW.toISOString(), logId: 'c0d2' },
      },
    ],
    attestations: [],
    rejected: [],
    collectedAt: NOW.toISOString(),
  };
}

describe('identity patterns', () => {
  it('decide at once on a nested-quantifier pattern and a long identity chosen by whoever got the certificate', () => {
    const rule: PolicyRule = {
      name: 'team',
      match: ['**'],
      mode: 'enforce',
      signatures: { anyOf: [{ keyless: { issuer: 'https://accounts.example', subjectRegExp: '(a+)+@example\\.org' } }] },
    };
    const started = performance.now();
    // A backtracking engine spends tens of seconds here, doubling with each extra letter.
    const d = evaluateRule(rule, signedBy(`${'a'.repeat(28)}@example.com`), { now: NOW });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(d.outcome).toBe('deny');
    expect(evaluateRule(rule, signedBy('aaa@example.org'), { now: NOW }).outcome).toBe('allow');
  });

  it('match the whole string, alternations included', () => {
    expect(matchesField('https://github.com/acme/app', undefined, 'https://github\\.com/acme/.*')).toBe(true);
    expect(matchesField('xhttps://github.com/acme/app', undefined, 'https://github\\.com/acme/.*')).toBe(false);
    expect(matchesField('a', undefined, 'a|ab')).toBe(true);
    expect(matchesField('ab', undefined, 'a|ab')).toBe(true);
    expect(matchesField('abc', undefined, 'a|ab')).toBe(false);
    expect(matchesField('ci@example.org', 'ci@example.org', 'ci@.*')).toBe(true);
    expect(matchesField('ci@example.org', 'other@example.org', 'ci@.*')).toBe(false);
    expect(matchesField(undefined, undefined, 'x')).toBe(false);
    expect(matchesField('é', undefined, '.')).toBe(true);
    expect(matchesField('😀', undefined, '.')).toBe(true);
  });
});
