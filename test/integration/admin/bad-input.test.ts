import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { pushImage, startRegistry, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { baseConfig, bearer, workspace, type Workspace } from './fixture.js';

/**
 * Input that used to reach a 500 or do something it should not: out-of-range times, malformed
 * percent-encoding in a path, a purge of a name that cannot exist, and an evaluation that asked the
 * upstream about a name the policy refuses by name.
 */
describe('bad input to the admin API', () => {
  let ws: Workspace;
  let app: App;
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));
  const api = () => request(app.handler);
  const auditCount = async () => (await admin(api().get('/api/v1/audit/events?limit=1000'))).body.events.length as number;

  beforeAll(async () => {
    ws = await workspace('bad-input');
    await ws.write(baseConfig());
    app = await ws.open();
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it('refuses a time too far back to be a date with 400, wherever times are read', async () => {
    for (const path of [
      '/api/v1/audit/events?since=99999999999d',
      '/api/v1/audit/events?until=99999999999d',
      '/api/v1/audit/events?since=9999999999999999999999h',
      '/api/v1/audit/summary?since=99999999999d',
      '/api/v1/audit/events/live?since=99999999999d',
    ]) {
      const res = await admin(api().get(path));
      expect(res.status, `${path}: ${res.text}`).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ path: expect.stringMatching(/^(since|until)$/), message: expect.stringContaining('ISO 8601') })]);
    }
    const replay = await admin(api().post('/api/v1/policy/replay')).send({ policies: [{ name: 'open', match: ['**'], mode: 'allow' }], since: '99999999999d' });
    expect(replay.status, replay.text).toBe(400);
    expect(replay.body.errors).toEqual([expect.objectContaining({ path: 'since' })]);
  });

  it('answers a malformed percent-encoding in an API path with 400, in the API error body', async () => {
    for (const [method, path] of [
      ['delete', '/api/v1/exceptions/%zz'],
      ['delete', '/api/v1/trust/revocations/%E0%A4%A'],
      ['get', '/api/v1/policy/versions/%zz'],
      ['get', '/api/v1/audit/events/%zz'],
    ] as const) {
      const res = await admin(api()[method](path));
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(400);
      expect(res.body.error).toEqual({ code: 'BAD_REQUEST', message: expect.stringContaining('percent-encoding') });
    }
  });

  it('answers a malformed percent-encoding in a /v2 path with 400 and an OCI error body', async () => {
    for (const path of ['/v2/upstream.test/%zz/manifests/1', '/v2/upstream.test/a/manifests/%zz', '/v2/upstream.test/a/blobs/%zz', '/v2/%zz/tags/list', '/v2/upstream.test/a/referrers/%zz']) {
      const res = await api().get(path);
      expect(res.status, `${path}: ${res.text}`).toBe(400);
      expect(res.body.errors[0].code).toMatch(/^(NAME_INVALID|DIGEST_INVALID|MANIFEST_INVALID)$/);
    }
  });

  it('refuses to purge a repository name that cannot exist, and audits nothing', async () => {
    const before = await auditCount();
    for (const repository of ['upstream.test/BAD NAME', 'upstream.test/', 'upstream.test/a//b', 'upstream.test/../etc', 'upstream.test/Org/App']) {
      const res = await admin(api().post('/api/v1/cache/purge')).send({ repository });
      expect(res.status, `${repository}: ${res.text}`).toBe(400);
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'repository' })]);
    }
    expect(await auditCount()).toBe(before);
    const fine = await admin(api().post('/api/v1/cache/purge')).send({ repository: 'upstream.test/org/app' });
    expect(fine.status, fine.text).toBe(200);
  });
});

describe.skipIf(!haveTools(['docker-registry']))('evaluating a name the policy refuses by name', () => {
  let registry: Registry;
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(registry.url, 'secret/app', '1');
    ws = await workspace('evaluate-deny');
    await ws.write(
      baseConfig({
        upstreams: [{ name: 'upstream.test', url: registry.url }],
        policies: [
          { name: 'no-secrets', match: ['upstream.test/secret/**'], mode: 'deny' },
          { name: 'open', match: ['upstream.test/public/**'], mode: 'allow' },
        ],
      }),
    );
    app = await ws.open();
  });
  afterAll(async () => {
    await ws?.remove();
    await registry?.stop();
  });

  it('gives the same refusal as a pull, without asking the upstream', async () => {
    const pushed = await registry.countRequests('/secret/');
    const pulled = await request(app.handler).get('/v2/upstream.test/secret/app/manifests/1');
    expect(pulled.status).toBe(403);
    for (const image of ['upstream.test/secret/app:1', 'upstream.test/secret/missing:1', 'upstream.test/elsewhere/app:1']) {
      const res = await request(app.handler).post('/api/v1/policy/evaluate').set('Authorization', bearer('audrey')).send({ image });
      expect(res.status, `${image}: ${res.text}`).toBe(403);
      expect(res.body.error.code).toBe('DENIED');
    }
    const same = await request(app.handler).post('/api/v1/policy/evaluate').set('Authorization', bearer('audrey')).send({ image: 'upstream.test/secret/app:1' });
    expect(same.body.error.message).toBe(pulled.body.errors[0].message);
    expect(await registry.countRequests('/secret/')).toBe(pushed);
    expect(await registry.countRequests('/elsewhere/')).toBe(0);
  });
});
