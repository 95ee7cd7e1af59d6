import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';
import { mapRole, personLabel, personOf } from '../../../src/auth/role-mapping.js';

const minimal = {
  upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
};
const sso = {
  issuer: 'https://login.example.com/realms/main',
  clientId: 'portcullis',
  clientSecretEnv: 'OIDC_SECRET',
  roles: { admin: { groups: ['platform-admins'] }, auditor: { groups: ['auditors'] } },
};
const withSso = (console: unknown) => ({ ...minimal, auth: { oidc: { console } } });

function errorsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, '/etc/portcullis/config.json', env);
    return [];
  } catch (e) {
    return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
  }
}

describe('auth.oidc.console', () => {
  it('reads the client secret from its variable and applies defaults', () => {
    const c = parseConfig(withSso(sso), '/etc/portcullis/config.json', { OIDC_SECRET: 's3cret' });
    expect(c.auth.oidc?.console).toEqual({
      issuer: sso.issuer, name: 'login.example.com', clientId: 'portcullis', clientSecret: 's3cret',
      scopes: ['openid', 'email', 'profile'], nameClaim: 'email', roles: sso.roles, sessionTtlMs: 3_600_000,
    });
    const d = parseConfig(withSso({ ...sso, scopes: ['groups'], sessionTtl: '15m', redirectUrl: 'https://proxy.example/auth/console/callback' }), '/x/c.json', { OIDC_SECRET: 's' });
    expect(d.auth.oidc?.console).toMatchObject({ scopes: ['openid', 'groups'], sessionTtlMs: 900_000, redirectUrl: 'https://proxy.example/auth/console/callback' });
  });

  it('says what is wrong with a bad section', () => {
    expect(errorsOf(withSso(sso))).toEqual(['auth.oidc.console.clientSecretEnv: environment variable OIDC_SECRET is not set']);
    expect(errorsOf(withSso({ ...sso, roles: {} }), { OIDC_SECRET: 's' })).toEqual([expect.stringMatching(/^auth\.oidc\.console\.roles: must map at least one role/)]);
    expect(errorsOf(withSso({ ...sso, redirectUrl: 'https://proxy.example/callback' }), { OIDC_SECRET: 's' })).toEqual(['auth.oidc.console.redirectUrl: must end in /auth/console/callback']);
    expect(errorsOf(withSso({ ...sso, issuer: 'ftp://idp' }), { OIDC_SECRET: 's' })).toEqual(['auth.oidc.console.issuer: must be an http or https URL']);
    expect(errorsOf(withSso({ ...sso, sessionTtl: '30d' }), { OIDC_SECRET: 's' })).toEqual([expect.stringMatching(/^auth\.oidc\.console\.sessionTtl: must be a duration .*from 1m to 1d/)]);
    expect(errorsOf(withSso({ ...sso, roles: { owner: { groups: ['x'] } } }), { OIDC_SECRET: 's' })).toEqual([expect.stringMatching(/^auth\.oidc\.console\.roles/)]);
  });
});

describe('role mapping', () => {
  const roles = { admin: { groups: ['platform-admins'] }, auditor: { groups: ['auditors'], 'realm_access.roles': ['portcullis-auditor'] } };

  it('grants the highest role a claim value maps to, following dotted claim paths', () => {
    expect(mapRole({ sub: 'a', groups: ['auditors', 'platform-admins'] }, roles)).toEqual({ role: 'admin' });
    expect(mapRole({ sub: 'a', groups: 'auditors' }, roles)).toEqual({ role: 'auditor' });
    expect(mapRole({ sub: 'a', realm_access: { roles: ['portcullis-auditor'] } }, roles)).toEqual({ role: 'auditor' });
  });

  it('refuses with the claims it looked at', () => {
    expect(mapRole({ sub: 'm', groups: ['contractors'] }, roles)).toEqual({
      reason: expect.stringContaining('no role is mapped to this account (groups: ["contractors"]; realm_access.roles: [])'),
    });
    expect(mapRole({ sub: 'm', groups: 42 }, roles)).toEqual({ reason: expect.stringContaining('groups: []') });
  });

  it('names a person by the name claim, then preferred_username, then sub', () => {
    expect(personLabel(personOf({ sub: 'u1', email: 'a@x' }, 'https://idp', 'email'))).toBe('a@x (sub u1, https://idp)');
    expect(personOf({ sub: 'u1', preferred_username: 'alice' }, 'https://idp', 'email').name).toBe('alice');
    expect(personOf({ sub: 'u1' }, 'https://idp', 'upn').name).toBe('u1');
  });
});
