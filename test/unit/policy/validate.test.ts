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

  it('refuses a glob holding a character globs do not know (classes, alternatives, escapes), naming it', () => {
    for (const glob of ['docker/[ab]pp', 'docker/app]', 'docker/{a,b}', 'docker/a\\*']) {
      const { rules, errors } = validatePolicyRules([{ name: 'r', match: ['docker/ok/**', glob], mode: 'allow' }]);
      expect(rules).toBeUndefined();
      expect(errors).toEqual([{ path: 'policies[0].match[1]', message: expect.stringMatching(/^"[[\]{}\\]" is not a glob character: globs know only \*, \*\* and \?/) }]);
    }
    expect(validatePolicyRules([{ name: 'r', match: ['docker/a?p/**', 'docker/*/x'], mode: 'allow' }]).errors).toEqual([]);
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

  it('requires a subject constraint for keyless identities; the issuer may be left out', () => {
    const only = (keyless: object) => [{ name: 'a', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ keyless }] } }];
    expect(validatePolicyRules(only({ subject: 'me@example.com' }), KEYS).errors).toEqual([]);
    expect(validatePolicyRules(only({ issuer: 'https://accounts.example.com' }), KEYS).errors).toEqual([
      { path: 'policies[0].signatures.anyOf[0].keyless', message: 'needs subject or subjectRegExp' },
    ]);
  });

  it('checks roots against trust.roots and extensions against Fulcio names and RE2 patterns, with paths', () => {
    const keyless = {
      root: 'corp',
      subject: 'x',
      extensions: { sourceRepositoryURI: 'https://github.com/acme/app', sourceRepo: 'x', issuer: 'y' },
      extensionsRegExp: { sourceRepositoryOwnerURI: '(', runnerEnvironment: 'github-hosted' },
    };
    const rules = [{ name: 'a', match: ['**'], mode: 'enforce', provenance: { signedBy: { anyOf: [{ keyless }] } } }];
    const at = 'policies[0].provenance.signedBy.anyOf[0].keyless';
    const r = validatePolicyRules(rules, KEYS);
    expect(r.errors.map((e) => e.path).sort()).toEqual(
      [`${at}.extensions.issuer`, `${at}.extensions.sourceRepo`, `${at}.extensionsRegExp.sourceRepositoryOwnerURI`, `${at}.root`].sort(),
    );
    expect(r.errors.find((e) => e.path === `${at}.root`)?.message).toContain('unknown root "corp"');
    expect(r.errors.find((e) => e.path === `${at}.extensions.sourceRepo`)?.message).toContain('sourceRepositoryURI');
    expect(validatePolicyRules(rules, KEYS, new Set(['default', 'corp'])).errors.map((e) => e.path)).not.toContain(`${at}.root`);
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
    expect(r.errors).toContainEqual({ path: 'policies[0].signature', message: 'unknown field (did you mean policies[0].signatures?)' });
  });

  it('rejects a non-array', () => {
    expect(validatePolicyRules({}).errors).toEqual([{ path: 'policies', message: 'must be an array of rules' }]);
  });
});

describe('validatePolicyRules: patterns that cannot run in linear time', () => {
  const keyless = (id: Record<string, string>) => ({ name: 'k', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ keyless: { issuer: 'i', subject: 's', ...id } }] } });
  const prov = (p: Record<string, string>) => ({ name: 'p', match: ['**'], mode: 'enforce', provenance: { signedBy: { anyOf: [{ key: 'release' }] }, ...p } });

  it('refuses backreferences and lookaround in every *RegExp, naming the path', () => {
    const r = validatePolicyRules(
      [
        keyless({ subjectRegExp: '(a)\\1' }),
        { ...keyless({ issuerRegExp: 'https://(?=accounts).*' }), name: 'k2' },
        prov({ builderIdRegExp: '(?!evil).*', sourceRepositoryRegExp: '(?<=x)y', sourceBranchRegExp: '(?<b>main)\\k<b>' }),
      ],
      KEYS,
    );
    expect(r.rules).toBeUndefined();
    expect(r.errors.map((e) => e.path)).toEqual([
      'policies[0].signatures.anyOf[0].keyless.subjectRegExp',
      'policies[1].signatures.anyOf[0].keyless.issuerRegExp',
      'policies[2].provenance.builderIdRegExp',
      'policies[2].provenance.sourceRepositoryRegExp',
      'policies[2].provenance.sourceBranchRegExp',
    ]);
    for (const e of r.errors) expect(e.message).toMatch(/RE2/);
  });

  it('refuses a pattern that would only be balanced inside the anchoring group', () => {
    // Wrapped as ^(?:a)|(b)$ it would match anything that starts with "a".
    const r = validatePolicyRules([keyless({ subjectRegExp: 'a)|(b' })], KEYS);
    expect(r.errors.map((e) => e.path)).toEqual(['policies[0].signatures.anyOf[0].keyless.subjectRegExp']);
  });

  it('accepts the RE2 syntax admins use: classes, alternation, Unicode classes, (?i), named groups', () => {
    const r = validatePolicyRules(
      [keyless({ subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v\\d+(\\.\\d+)*', issuerRegExp: '(?i)https://ACCOUNTS\\.google\\.com|\\p{L}+' }),
        prov({ builderIdRegExp: '(?P<host>https://github\\.com)/.*', sourceBranchRegExp: 'main|release/.+' })],
      KEYS,
    );
    expect(r.errors).toEqual([]);
  });
});

describe('validatePolicyRules: matches() in conditions', () => {
  it('refuses a pattern literal RE2 cannot run, with the path of the condition', () => {
    const r = validatePolicyRules([{ name: 'c', match: ['**'], mode: 'enforce', condition: 'repository.matches("^org/(?!internal)") && image.config.User != "root"' }], KEYS);
    expect(r.errors).toEqual([{ path: 'policies[0].condition', message: expect.stringMatching(/1:20: .*invalid or unsupported Perl syntax.*RE2/) }]);
    const ok = validatePolicyRules([{ name: 'c', match: ['**'], mode: 'enforce', condition: 'repository.matches("^org/(public|shared)/")' }], KEYS);
    expect(ok.errors).toEqual([]);
  });
});
