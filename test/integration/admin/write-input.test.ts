import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { baseConfig, bearer, workspace, type Workspace } from './fixture.js';

/**
 * A write never ignores what it was asked: an unknown query parameter or body field (a misspelt `dryRun`, a
 * `coment`) is refused with 400 naming it, before anything changes, and `dryRun` is only true or false.
 */
const OPEN = [{ name: 'open', match: ['**'], mode: 'allow' }];

describe('admin writes refuse what they do not read', () => {
  let ws: Workspace;
  let app: App;
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));
  const api = () => request(app.handler);
  const activeVersion = async () => (await admin(api().get('/api/v1/policy'))).body.version as number;
  const auditCount = async () => (await admin(api().get('/api/v1/audit/events?limit=1000'))).body.events.length as number;

  beforeAll(async () => {
    ws = await workspace('write-input');
    await ws.write(baseConfig());
    app = await ws.open();
    // Version 2, so a rollback to 1 would change something.
    expect((await admin(api().put('/api/v1/policy')).send({ policies: [...OPEN, { name: 'late', match: ['upstream.test/x'], mode: 'deny' }] })).status).toBe(200);
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it('does not activate a policy when dryRun is misspelt, and suggests the right name', async () => {
    const before = await auditCount();
    const res = await admin(api().put('/api/v1/policy?dryrun=true')).send({ policies: [] });
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.message).toBe('unknown parameter "dryrun" (did you mean dryRun?); nothing was done');
    expect(res.body.errors).toEqual([{ path: 'dryrun', message: 'is not a parameter of this endpoint (did you mean dryRun?); known: dryRun' }]);
    const rollback = await admin(api().post('/api/v1/policy/rollback?dry_run=1')).send({ version: 1 });
    expect(rollback.status, rollback.text).toBe(400);
    expect(rollback.body.errors[0]).toMatchObject({ path: 'dry_run', message: expect.stringContaining('did you mean dryRun?') });
    expect(await activeVersion()).toBe(2);
    expect(await auditCount()).toBe(before);
  });

  it('does not create an exception when asked for a dry run it does not offer', async () => {
    const res = await admin(api().post('/api/v1/exceptions?dryRun=true')).send({ match: 'upstream.test/org/app', until: '1h', reason: 'hotfix' });
    expect(res.status, res.text).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'dryRun', message: 'is not a parameter of this endpoint; known: none' }]);
    expect((await admin(api().get('/api/v1/exceptions'))).body.exceptions).toEqual([]);
  });

  it('refuses an unknown body field, with a suggestion when one is close', async () => {
    const res = await admin(api().post('/api/v1/policy/rollback')).send({ version: 1, coment: 'back to the start' });
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.message).toBe('unknown field "coment" (did you mean comment?); nothing was done');
    expect(res.body.errors).toEqual([{ path: 'coment', message: 'is not a field of this request body (did you mean comment?); known: version, comment' }]);
    const put = await admin(api().put('/api/v1/policy')).send({ policies: OPEN, coment: 'x', polices: [] });
    expect(put.status).toBe(400);
    expect(put.body.errors.map((e: { path: string }) => e.path)).toEqual(['coment', 'polices']);
    expect(put.body.errors[1].message).toContain('did you mean policies?');
    expect(await activeVersion()).toBe(2);
  });

  it('refuses unknown parameters and fields on every write endpoint, changing nothing', async () => {
    const before = await auditCount();
    const writes: Array<[string, string, Record<string, unknown> | undefined]> = [
      ['put', '/api/v1/policy', { policies: OPEN }],
      ['post', '/api/v1/policy/rollback', { version: 1 }],
      ['post', '/api/v1/policy/evaluate', { image: 'upstream.test/org/app:1' }],
      ['post', '/api/v1/policy/replay', { policies: OPEN }],
      ['post', '/api/v1/trust/revocations', { key: 'release', reason: 'leaked' }],
      ['delete', '/api/v1/trust/revocations/1', undefined],
      ['post', '/api/v1/exceptions', { match: 'upstream.test/org/app', until: '1h', reason: 'hotfix' }],
      ['delete', '/api/v1/exceptions/1', undefined],
      ['post', '/api/v1/tags/accept', { repository: 'upstream.test/org/app', tag: '1', digest: `sha256:${'a'.repeat(64)}` }],
      ['post', '/api/v1/cache/purge', { repository: 'upstream.test/org/app' }],
      ['post', '/api/v1/audit/verify', { checkpoints: [] }],
    ];
    for (const [method, path, body] of writes) {
      const query = await admin(api()[method as 'post'](`${path}?force=true`)).send(body ?? {});
      expect(query.status, `${method} ${path}?force=true: ${query.text}`).toBe(400);
      expect(query.body.errors).toEqual([expect.objectContaining({ path: 'force', message: expect.stringContaining('is not a parameter') })]);
      const field = await admin(api()[method as 'post'](path)).send({ ...body, force: true });
      expect(field.status, `${method} ${path} {force}: ${field.text}`).toBe(400);
      expect(field.body.errors).toEqual([expect.objectContaining({ path: 'force', message: expect.stringContaining('is not a field') })]);
    }
    expect(await activeVersion()).toBe(2);
    expect(await auditCount()).toBe(before);
  });

  it('takes dryRun only as true or false', async () => {
    for (const value of ['TRUE', '1', 'yes', '', 'true&dryRun=true']) {
      const put = await admin(api().put(`/api/v1/policy?dryRun=${value}`)).send({ policies: [] });
      expect(put.status, `dryRun=${value}: ${put.text}`).toBe(400);
      expect(put.body.errors).toEqual([{ path: 'dryRun', message: 'must be true or false' }]);
      const rollback = await admin(api().post(`/api/v1/policy/rollback?dryRun=${value}`)).send({ version: 1 });
      expect(rollback.status, `rollback dryRun=${value}: ${rollback.text}`).toBe(400);
    }
    expect(await activeVersion()).toBe(2);
    const preview = await admin(api().put('/api/v1/policy?dryRun=true')).send({ policies: [] });
    expect(preview.status).toBe(200);
    expect(preview.body.dryRun).toBe(true);
    expect(await activeVersion()).toBe(2);
  });
});
