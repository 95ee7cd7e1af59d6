import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import type { ConfigValidationError } from '../../../src/config/validator.js';
import { ALLOW_ALL, baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';

/**
 * Regular expressions in a policy must be RE2 patterns, which run in linear time. One that is not
 * (a backreference, lookaround) is refused where the policy comes in, with the path of the pattern:
 * in the config file at start and in check-config, and in PUT /api/v1/policy.
 */

const lookahead = (extra: Record<string, unknown> = {}) => [
  {
    name: 'release',
    match: ['upstream.test/**'],
    mode: 'enforce',
    signatures: { anyOf: [{ keyless: { issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: 'https://github\\.com/(?!evil)[^/]+/.*' } }] },
    provenance: { signedBy: { anyOf: [{ key: 'release' }] }, sourceBranchRegExp: '(main)\\1?', ...extra },
  },
];

describe('policy patterns that cannot run in linear time', () => {
  let ws: Workspace | undefined;
  afterEach(async () => {
    await ws?.remove();
    ws = undefined;
  });

  it('are refused in the config file, by check-config and at start, each with its path', async () => {
    ws = await workspace('patterns-config');
    await ws.write(baseConfig({ policies: lookahead() }));
    const out = await cli(['check-config', '--config', ws.configPath]);
    expect(out.code, out.stdout + out.stderr).toBe(2);
    expect(out.stderr).toContain('policies[0].signatures.anyOf[0].keyless.subjectRegExp');
    expect(out.stderr).toContain('policies[0].provenance.sourceBranchRegExp');
    expect(out.stderr).toMatch(/RE2/);
    let refused: unknown;
    try {
      await ws.open();
    } catch (err) {
      refused = err;
    }
    expect((refused as ConfigValidationError).errors?.map((e) => e.path)).toEqual([
      'policies[0].signatures.anyOf[0].keyless.subjectRegExp',
      'policies[0].provenance.sourceBranchRegExp',
    ]);
  });
});

describe('PUT /api/v1/policy with patterns that cannot run in linear time', () => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => {
    ws = await workspace('patterns-api');
    await ws.write(baseConfig({ policies: ALLOW_ALL }));
    app = await ws.open();
  });
  afterAll(() => ws.remove());

  it('answers 400 naming every refused pattern, and keeps the active policy', async () => {
    const put = await request(app.express).put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: lookahead({ builderIdRegExp: '(?<=https://)github\\.com/.*' }) });
    expect(put.status).toBe(400);
    expect(put.body.error.code).toBe('POLICY_INVALID');
    const paths = (put.body.errors as { path: string; message: string }[]).map((e) => e.path);
    expect(paths).toEqual([
      'policies[0].signatures.anyOf[0].keyless.subjectRegExp',
      'policies[0].provenance.builderIdRegExp',
      'policies[0].provenance.sourceBranchRegExp',
    ]);
    const active = await request(app.express).get('/api/v1/policy').set('Authorization', bearer('audrey'));
    expect(active.body).toEqual({ version: 1, policies: ALLOW_ALL });
  });

  it('accepts the same policy written in RE2 syntax', async () => {
    const re2 = lookahead();
    re2[0]!.signatures.anyOf[0]!.keyless.subjectRegExp = 'https://github\\.com/acme/[^/]+/.*';
    re2[0]!.provenance.sourceBranchRegExp = 'main|release/.+';
    const put = await request(app.express).put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: re2 });
    expect(put.status, put.text).toBe(200);
    expect(put.body.version).toBe(2);
  });
});

describe('POST /api/v1/policy/rollback to a version whose patterns are no longer accepted', () => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => {
    ws = await workspace('patterns-rollback');
    await ws.write(baseConfig({ policies: ALLOW_ALL }));
    app = await ws.open();
  });
  afterAll(() => ws.remove());

  it('is refused with the paths, and the active policy stays', async () => {
    // Version 2 as an earlier release stored it, when patterns were JavaScript regular expressions.
    await app.policies.update(lookahead() as never, { user: 'alice' });
    const put = await request(app.express).put('/api/v1/policy').set('Authorization', bearer('alice')).send({ policies: [{ name: 'other', match: ['**'], mode: 'allow' }] });
    expect(put.body.version).toBe(3);
    const back = await request(app.express).post('/api/v1/policy/rollback').set('Authorization', bearer('alice')).send({ version: 2 });
    expect(back.status).toBe(400);
    expect(back.body.error.code).toBe('POLICY_INVALID');
    expect((back.body.errors as { path: string }[]).map((e) => e.path)).toEqual([
      'policies[0].signatures.anyOf[0].keyless.subjectRegExp',
      'policies[0].provenance.sourceBranchRegExp',
    ]);
    const active = await request(app.express).get('/api/v1/policy').set('Authorization', bearer('audrey'));
    expect(active.body.version).toBe(3);
    const ok = await request(app.express).post('/api/v1/policy/rollback').set('Authorization', bearer('alice')).send({ version: 1 });
    expect(ok.status, ok.text).toBe(200);
  });
});
