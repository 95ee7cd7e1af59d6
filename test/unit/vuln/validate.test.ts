import { describe, expect, it } from 'vitest';
import { validatePolicyRules } from '../../../src/policy/validate.js';

const rule = (extra: Record<string, unknown>) => [{ name: 'acme', match: ['docker.io/acme/*'], mode: 'enforce', ...extra }];
const keys = new Set(['scanner', 'security']);
const paths = (r: unknown) => validatePolicyRules(r, keys).errors.map((e) => `${e.path}: ${e.message}`);

describe('a rule\'s vulnerabilities block', () => {
  it('accepts the documented block', () => {
    expect(paths(rule({
      vulnerabilities: {
        scans: { signedBy: { anyOf: [{ key: 'scanner' }] }, maxAge: '7d' },
        vex: { signedBy: { anyOf: [{ key: 'security' }] } },
        deny: { severity: 'high', fixableOnly: false, ids: ['CVE-2024-3094', 'GHSA-cfh5-3ghh-wfjx'], knownExploited: true },
        gracePeriod: '72h',
      },
      condition: 'size(vulnerabilities.findings) < 100',
    }))).toEqual([]);
  });

  it('names every mistake with its path', () => {
    expect(paths(rule({
      vulnerabilities: {
        scans: { signedBy: { anyOf: [{ key: 'nobody' }] }, maxAge: 'a week' },
        deny: { severity: 'severe', ids: ['not an id'], fixable: true },
        gracePeriod: 3,
      },
    }))).toEqual([
      'policies[0].vulnerabilities.scans.signedBy.anyOf[0].key: unknown key "nobody" (not in trust.keys)',
      'policies[0].vulnerabilities.scans.maxAge: must be a duration such as "30s", "15m", "4h" or "7d"',
      expect.stringMatching(/^policies\[0\]\.vulnerabilities\.deny\.fixable: unknown field/),
      'policies[0].vulnerabilities.deny.severity: must be one of critical, high, medium, low',
      'policies[0].vulnerabilities.deny.ids[0]: must be a vulnerability id such as CVE-2024-3094 or GHSA-…',
      'policies[0].vulnerabilities.gracePeriod: must be a duration such as "30s", "15m", "4h" or "7d"',
    ]);
    expect(paths(rule({ vulnerabilities: {} }))).toEqual(['policies[0].vulnerabilities.scans: must be an object with signedBy (and maxAge)']);
  });

  it('refuses a condition that reads vulnerabilities in a rule without the block', () => {
    expect(paths(rule({ condition: 'size(vulnerabilities.findings) == 0' }))).toEqual([
      'policies[0].condition: reads vulnerabilities, which only a rule with a vulnerabilities block has (its scans.signedBy says which scans count)',
    ]);
  });
});
