import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';

const minimal = {
  upstreams: [{ name: 'ghcr.io', url: 'https://ghcr.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
};
const GITHUB = { issuer: 'https://token.actions.githubusercontent.com', audience: 'portcullis', claims: { repository: 'org/app' } };

function errorsOf(issuers: unknown[], source = '/etc/portcullis/config.json'): string[] {
  try {
    parseConfig({ ...minimal, auth: { pull: 'token', oidc: { issuers } } }, source, {});
    return [];
  } catch (e) {
    return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
  }
}

describe('auth.oidc.issuers', () => {
  it('applies defaults: role puller, every asymmetric algorithm, keys fetched again at most every 30 s and at least every 10 min; pull: token needs no static token', () => {
    const c = parseConfig({ ...minimal, auth: { pull: 'token', oidc: { issuers: [GITHUB] } } }, '/etc/p.json', {});
    expect(c.auth.oidcIssuers).toEqual([
      {
        name: 'token.actions.githubusercontent.com', issuer: GITHUB.issuer, audience: ['portcullis'], role: 'puller',
        claims: { repository: 'org/app' }, claimsRegExp: {}, minKeyRefreshMs: 30_000, maxKeyAgeMs: 600_000,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
      },
    ]);
    expect(parseConfig(minimal, '/etc/p.json', {}).auth.oidcIssuers).toBeUndefined();
  });

  it('refuses an issuer that would admit anyone it signs for, and unsafe algorithms', () => {
    expect(errorsOf([{ issuer: GITHUB.issuer, audience: 'portcullis' }])).toEqual([
      'auth.oidc.issuers[0]: needs subject, subjectRegExp, claims or claimsRegExp: an issuer such as a CI service signs tokens for everyone who uses it',
    ]);
    expect(errorsOf([{ ...GITHUB, algorithms: ['HS256'] }])[0]).toMatch(/^auth\.oidc\.issuers\[0\]\.algorithms\[0\]: must be one of RS256/);
    expect(errorsOf([{ ...GITHUB, algorithms: ['none'] }])[0]).toMatch(/algorithms\[0\]: must be one of/);
    expect(errorsOf([{ ...GITHUB, audience: undefined }])).toEqual(['auth.oidc.issuers[0].audience: must be a string or an array of strings']);
    expect(errorsOf([{ ...GITHUB, role: 'root' }])).toEqual(['auth.oidc.issuers[0].role: must be one of "puller", "auditor", "admin"']);
  });

  it('checks URLs, patterns, globs, names and key files, each with its path', () => {
    expect(errorsOf([
      { ...GITHUB, issuer: 'http://issuer.example.com', subjectRegExp: 'repo:(a+)+\\1', claimsRegExp: { ref: '(?=x)' }, repositories: ['ghcr.io/org/[ab]'] },
      { ...GITHUB, issuer: 'not a url', name: 'second' },
      { ...GITHUB, name: 'second', jwksFile: './missing.json' },
    ])).toEqual([
      'auth.oidc.issuers[0].issuer: must be an https:// URL (http:// only on a loopback address), or give jwksFile',
      expect.stringMatching(/^auth\.oidc\.issuers\[0\]\.subjectRegExp: .*RE2/),
      expect.stringMatching(/^auth\.oidc\.issuers\[0\]\.claimsRegExp\.ref: .*RE2/),
      'auth.oidc.issuers[0].repositories[0]: "[" is not a glob character: globs know only *, ** and ?, and no repository name holds "["',
      'auth.oidc.issuers[1].issuer: must be a URL (its discovery document gives the keys), or give jwksFile',
      'auth.oidc.issuers[2].name: duplicates issuer name "second"; give each entry its own name',
      'auth.oidc.issuers[2].jwksFile: cannot read /etc/portcullis/missing.json: ENOENT',
    ]);
  });

  it('bounds how often keys are fetched again', () => {
    expect(errorsOf([{ ...GITHUB, minKeyRefresh: '10ms' }])).toEqual(['auth.oidc.issuers[0].minKeyRefresh: must be a duration from 1s to 1h']);
    expect(errorsOf([{ ...GITHUB, maxKeyAge: '2h' }])).toEqual(['auth.oidc.issuers[0].maxKeyAge: must be a duration from 1s to 1h']);
  });

  it('reads a JWKS file relative to the config, and refuses one that is not a key set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-config-'));
    writeFileSync(join(dir, 'good.json'), JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] }));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ keys: [] }));
    const c = parseConfig({ ...minimal, auth: { oidc: { issuers: [{ ...GITHUB, issuer: 'https://kubernetes.default.svc', jwksFile: 'good.json' }] } } }, join(dir, 'c.json'), {});
    expect(c.auth.oidcIssuers![0]!.jwksFile).toBe(join(dir, 'good.json'));
    expect(errorsOf([{ ...GITHUB, jwksFile: 'bad.json' }], join(dir, 'c.json'))).toEqual([
      `auth.oidc.issuers[0].jwksFile: ${join(dir, 'bad.json')} is not a JWKS: it needs a non-empty "keys" array`,
    ]);
  });
});
