import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { createLogger } from '../../../src/logger.js';
import { baseConfig, bearer, workspace, type Workspace } from './fixture.js';

/**
 * Safer policy changes (comments, If-Match, dry runs, warnings) and findable failures: why a pull was
 * refused is in the request log line and in response headers, and evaluate does not guess at a registry.
 */
const OPEN = [{ name: 'open', match: ['**'], mode: 'allow' }];
const BLOCKED = [
  { name: 'blocked', match: ['upstream.test/org/blocked'], mode: 'deny' },
  { name: 'open', match: ['**'], mode: 'allow' },
];

describe('policy changes and refusal reasons', () => {
  let ws: Workspace;
  let app: App;
  const lines: Record<string, unknown>[] = [];
  const api = () => request(app.express);
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));
  const requestLine = (requestId: string) => lines.find((l) => l.msg === 'request' && l.requestId === requestId);

  beforeAll(async () => {
    ws = await workspace('safety');
    await ws.write(baseConfig({ policies: [...OPEN, { name: 'quay', match: ['quay.io/**'], mode: 'deny' }] }));
    app = await createApp(loadConfigFile(ws.configPath), { log: createLogger('info', {}, (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) });
  });
  afterAll(async () => {
    await app?.close();
    await ws?.remove();
  });

  it('logs at start the active policy and where it came from, the upstreams and the trust material, and warns about the policy', () => {
    expect(lines.find((l) => l.msg === 'active policy')).toMatchObject({ version: 1, source: 'config', from: ws.configPath, rules: 2 });
    expect(lines.find((l) => l.msg === 'upstreams')).toMatchObject({
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', credentials: false }],
      defaultUpstream: 'upstream.test',
    });
    expect(lines.find((l) => l.msg === 'trust material')).toMatchObject({ trustedRoot: 'public-good', keys: ['release'] });
    const warnings = lines.filter((l) => l.msg === 'policy warning');
    expect(warnings.map((w) => [w.level, w.path])).toEqual([['warn', 'policies[1].match[0]'], ['warn', 'policies[1].match']]);
    expect(warnings[0]!.warning).toContain('"quay.io" is no configured upstream');
  });

  it('sends the active version as a strong ETag', async () => {
    const res = await admin(api().get('/api/v1/policy'));
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('"1"');
  });

  it('stores a comment with the version and answers with warnings', async () => {
    const put = await admin(api().put('/api/v1/policy'))
      .set('If-Match', '"1"')
      .send({ policies: [...BLOCKED, { name: 'late', match: ['upstream.test/org/*'], mode: 'deny' }], comment: 'block org/blocked (INC-42)' });
    expect(put.status, put.text).toBe(200);
    expect(put.headers.etag).toBe('"2"');
    expect(put.body).toMatchObject({ version: 2, comment: 'block org/blocked (INC-42)', author: 'alice' });
    expect(put.body.warnings).toEqual([{ path: 'policies[2].match', message: expect.stringContaining('matched first by "open"') }]);
    const versions = await admin(api().get('/api/v1/policy/versions'));
    expect(versions.body.versions.map((v: { comment: string | null }) => v.comment)).toEqual(['block org/blocked (INC-42)', null]);
    expect((await admin(api().get('/api/v1/policy/versions/2'))).body.comment).toBe('block org/blocked (INC-42)');
    const events = await admin(api().get('/api/v1/audit/events?kind=policy.update'));
    expect(events.body.events.at(-1).evidence.comment).toBe('block org/blocked (INC-42)');
  });

  it('refuses a change whose If-Match is no longer the active version with 412, changing nothing', async () => {
    const stale = await admin(api().put('/api/v1/policy')).set('If-Match', '"1"').send({ policies: OPEN });
    expect(stale.status).toBe(412);
    expect(stale.body.error).toEqual({ code: 'PRECONDITION_FAILED', message: expect.stringContaining('the active policy version is now 2') });
    expect(stale.headers.etag).toBe('"2"');
    const rollback = await admin(api().post('/api/v1/policy/rollback')).set('If-Match', 'W/"2"').send({ version: 1 });
    expect(rollback.status).toBe(412);
    expect((await admin(api().get('/api/v1/policy'))).body.version).toBe(2);
  });

  it('rolls back with a comment when If-Match names the active version or is *', async () => {
    const back = await admin(api().post('/api/v1/policy/rollback')).set('If-Match', '*').send({ version: 1, comment: 'back' });
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({ version: 3, comment: 'back' });
    const res = await admin(api().post('/api/v1/policy/rollback')).set('If-Match', '"3"').send({ version: 2, comment: 'same again' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ version: 4, comment: 'same again' });
    expect(res.headers.etag).toBe('"4"');
    const bad = await admin(api().post('/api/v1/policy/rollback')).send({ version: 1, comment: 7 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'comment', message: 'must be a string' }]);
  });

  it('answers a dry run with the diff, summary and warnings, storing, auditing and announcing nothing', async () => {
    const before = (await admin(api().get('/api/v1/audit/events'))).body.events.length;
    const res = await admin(api().put('/api/v1/policy?dryRun=true')).send({ policies: [], comment: 'what if' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      activeVersion: 4,
      policies: [],
      comment: 'what if',
      diff: { removed: ['blocked', 'open', 'late'] },
      summary: 'removed blocked, open, late',
      warnings: [{ path: 'policies', message: 'the policy has no rules: every pull is denied' }],
    });
    expect((await admin(api().get('/api/v1/policy'))).body.version).toBe(4);
    expect((await admin(api().get('/api/v1/audit/events'))).body.events.length).toBe(before);
    expect((await admin(api().put('/api/v1/policy?dryRun=true')).set('If-Match', '"2"').send({ policies: OPEN })).status).toBe(412);
    const rollback = await admin(api().post('/api/v1/policy/rollback?dryRun=true')).send({ version: 1 });
    expect(rollback.status, rollback.text).toBe(200);
    expect(rollback.body).toMatchObject({ dryRun: true, activeVersion: 4, policies: [{ name: 'open' }, { name: 'quay' }], diff: { added: ['quay'] } });
    expect(rollback.body.warnings.map((w: { path: string }) => w.path)).toEqual(['policies[1].match[0]', 'policies[1].match']);
    expect((await admin(api().get('/api/v1/policy'))).body.version).toBe(4);
    expect((await admin(api().get('/api/v1/audit/events'))).body.events.length).toBe(before);
  });

  it('refuses a dryRun other than true or false, and an overlong comment, with 400', async () => {
    const res = await admin(api().put('/api/v1/policy?dryRun=yes')).send({ policies: OPEN, comment: 'x'.repeat(1001) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'dryRun', message: 'must be true or false' },
      { path: 'comment', message: 'must be at most 1000 characters (it has 1001)' },
    ]);
    expect((await admin(api().get('/api/v1/policy'))).body.version).toBe(4);
    expect((await admin(api().post('/api/v1/policy/rollback?dryRun=1')).send({ version: 1 })).status).toBe(400);
    expect((await admin(api().get('/api/v1/policy'))).body.version).toBe(4);
  });

  it('says why a HEAD or GET was denied in headers, and in the request log line', async () => {
    const head = await request(app.handler).head('/v2/upstream.test/org/blocked/manifests/1').set('X-Request-Id', 'head-denied');
    expect(head.status).toBe(403);
    expect(head.headers['x-portcullis-rule']).toBe('blocked');
    expect(head.headers['x-portcullis-reason']).toBe('denied by policy');
    const get = await request(app.handler).get('/v2/upstream.test/org/blocked/manifests/1').set('X-Request-Id', 'get-denied');
    expect(get.headers['x-portcullis-rule']).toBe('blocked');
    expect(get.body.errors[0].code).toBe('DENIED');
    await new Promise((r) => setTimeout(r, 50));
    expect(requestLine('head-denied')).toMatchObject({ status: 403, code: 'DENIED', rule: 'blocked', reasons: ['denied by policy'] });
    expect(requestLine('get-denied')).toMatchObject({ status: 403, rule: 'blocked' });
  });

  it('logs the upstream error of a pull that failed upstream', async () => {
    const res = await request(app.handler).get('/v2/upstream.test/org/app/manifests/1').set('X-Request-Id', 'upstream-down');
    expect(res.status).toBe(502);
    expect(res.headers['x-portcullis-reason']).toContain('upstream.test');
    await new Promise((r) => setTimeout(r, 50));
    expect(requestLine('upstream-down')).toMatchObject({ status: 502, code: 'UPSTREAM_UNAVAILABLE', error: expect.stringContaining('upstream upstream.test') });
    const ok = await request(app.handler).get('/v2/').set('X-Request-Id', 'fine');
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(requestLine('fine')).not.toHaveProperty('error');
  });

  it('logs why an API request failed', async () => {
    await admin(api().put('/api/v1/policy')).set('X-Request-Id', 'api-412').set('If-Match', '"1"').send({ policies: OPEN });
    await new Promise((r) => setTimeout(r, 50));
    expect(requestLine('api-412')).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED' });
  });

  it('does not evaluate a name under a registry host that is no upstream as a repository of the default upstream', async () => {
    const res = await admin(api().post('/api/v1/policy/evaluate')).send({ image: 'quay.io/x/y:1' });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NAME_UNKNOWN');
    expect(res.body.error.message).toBe(
      '"quay.io" is not a configured upstream (upstreams: upstream.test); a pull of this name goes to the default upstream upstream.test as its repository "quay.io/x/y" (evaluate "upstream.test/quay.io/x/y" to judge that)',
    );
  });
});
