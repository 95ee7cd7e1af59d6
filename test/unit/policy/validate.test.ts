import { describe, expect, it } from 'vitest';
import { validatePolicyRules } from '../../../src/policy/validate.js';

const KEYS = new Set(['release']);
const good = {
  name: 'prod',
  match: ['docker/library/**'],
  mode: 'enforce',
  signatures: { anyOf: [{ key: 'release', tlog: 'required' }, { keyless: { issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: 'https://github\\.com/acme/.*' } }] },
  provenance: { signedBy: { anyOf: [{ key: 'release' }] }, builderIdRegExp: '.*', sourceRepository: 'https://github.com/acme/app', sourceBranch: 'main' },
  maxAgeDays: 90,
};

describe('validatePolicyRules', () => {
  it('accepts a complete valid rule set', () => {
    const r = validatePolicyRules([good, { name: 'rest', match: ['**'], mode: 'deny' }], KEYS);
    expect(r.errors).toEqual([]);
    expect(r.rules).toHaveLength(2);
  });

  it('reports every error with its path, and returns no rules', () => {
    const r = validatePolicyRules(
      [
        good,
        { name: 'prod', match: [], mode: 'enforcing', maxAgeDays: -1, signatures: { anyOf: [] } },
        { name: 'x', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ keyless: { issuer: 'i', subjectRegExp: '(' } }, { key: 'nope' }] } },
      ],
      KEYS,
    );
    expect(r.rules).toBeUndefined();
    const paths = r.errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'policies[1].name',
        'policies[1].match',
        'policies[1].mode',
        'policies[1].maxAgeDays',
        'policies[1].signatures.anyOf',
        'policies[2].signatures.anyOf[0].keyless.subjectRegExp',
        'policies[2].signatures.anyOf[1].key',
      ]),
    );
    expect(r.errors.find((e) => e.path === 'policies[2].signatures.anyOf[1].key')?.message).toContain('unknown key "nope"');
    expect(r.errors.find((e) => e.path.endsWith('subjectRegExp'))?.message).toContain('invalid regular expression');
  });

  it('requires both an issuer and a subject constraint for keyless identities', () => {
    const r = validatePolicyRules([{ name: 'a', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ keyless: { subject: 'me@example.com' } }] } }], KEYS);
    expect(r.errors).toEqual([{ path: 'policies[0].signatures.anyOf[0].keyless', message: 'needs issuer or issuerRegExp' }]);
  });

  it('rejects unknown fields, a key+keyless mix, and enforce rules that require nothing', () => {
    const r = validatePolicyRules(
      [
        { name: 'a', match: ['**'], mode: 'enforce', signature: {} },
        { name: 'b', match: ['**'], mode: 'warn', signatures: { anyOf: [{ key: 'release', keyless: {} }] } },
        { name: 'c', match: ['**'], mode: 'enforce', provenance: { signedBy: { anyOf: [{ key: 'release' }] }, builderIdRegExp: '[' } },
      ],
      KEYS,
    );
    const paths = r.errors.map((e) => e.path);
    expect(paths).toContain('policies[0].signature');
    expect(paths).toContain('policies[0]');
    expect(paths).toContain('policies[1].signatures.anyOf[0]');
    expect(paths).toContain('policies[2].provenance.builderIdRegExp');
  });

  it('rejects a non-array', () => {
    expect(validatePolicyRules({}).errors).toEqual([{ path: 'policies', message: 'must be an array of rules' }]);
  });
});
