import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { createLogger } from '../../../src/logger.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { basic, baseConfig, bearer, TOKENS, workspace, type Workspace } from './fixture.js';
import { useBackends } from '../../helpers/backends.js';
import { queryColumn, queryRows } from '../../helpers/db-query.js';

/** `auth.pull: "token"`: challenges, Basic and token-flow credentials, roles, attribution and throttling. */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

const backends = useBackends();

describe.skipIf(!haveTools(['docker-registry'])).each(backends.names)('pulls with tokens (%s)', (backend) => {
  let registry: Registry;
  let image: PushedImage;
  let ws: Workspace;
  let app: App;
  const logLines: string[] = [];
  const manifest = (auth?: string) => {
    const req = request(app.express).get('/v2/upstream.test/org/app/manifests/1').set('Accept', ACCEPT);
    return auth ? req.set('Authorization', auth) : req;
  };
  const lastPull = async () =>
    (await queryRows<{ user: string | null; status: number }>(app.config.database, `SELECT "user", status FROM audit_events WHERE kind = 'pull.manifest' ORDER BY id DESC LIMIT 1`))[0]!;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushImage(registry.url, 'org/app', '1');
    ws = await workspace('pull-auth');
    const config = baseConfig({ upstreams: [{ name: 'upstream.test', url: registry.url }], database: await backends.database(backend) });
    await ws.write({ ...config, auth: { ...(config.auth as object), pull: 'token' } });
    app = await createApp(loadConfigFile(ws.configPath), { log: createLogger('info', {}, (l) => logLines.push(l)) });
  });
  afterAll(async () => {
    await app?.close();
    await ws?.remove();
    await registry?.stop();
  });

  it('challenges a client without credentials with 401 and a Basic challenge, from /v2/ on', async () => {
    for (const res of [await request(app.express).get('/v2/'), await manifest()]) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="portcullis"');
      expect(res.body.errors[0].code).toBe('UNAUTHORIZED');
    }
  });

  it('serves a puller with Basic credentials and records the name on the pull', async () => {
    expect((await request(app.express).get('/v2/').set('Authorization', basic('ci', TOKENS.ci.secret))).status).toBe(200);
    const res = await manifest(basic('ci', TOKENS.ci.secret));
    expect(res.status, res.text).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(image.digest);
    expect(await lastPull()).toEqual({ user: 'ci', status: 200 });
  });

  it('refuses a wrong token, or a token under another name, and records why without the secret', async () => {
    expect((await manifest(basic('ci', 'wrong-secret-123'))).status).toBe(401);
    expect((await manifest(basic('alice', TOKENS.ci.secret))).status).toBe(401);
    const failures = await queryRows<{ user: string; reasons: string }>(app.config.database, `SELECT "user", reasons FROM audit_events WHERE kind = 'auth.failure' ORDER BY id`);
    expect(failures.map((f) => f.user)).toEqual(['ci', 'alice']);
    expect(failures[0]!.reasons).toContain('invalid credentials for user');
    expect(JSON.stringify(failures)).not.toContain('wrong-secret-123');
  });

  it('refuses an auditor, who may read the log but not pull', async () => {
    const res = await manifest(basic('audrey', TOKENS.audrey.secret));
    expect(res.status).toBe(403);
    expect(res.body.errors[0].code).toBe('DENIED');
  });

  it('implements the token flow: Basic at /auth/token, then the bearer token on /v2', async () => {
    const t = await request(app.express).get('/auth/token?service=portcullis&scope=repository:upstream.test/org/app:pull')
      .set('Authorization', basic('alice', TOKENS.alice.secret));
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ token: expect.any(String), expires_in: 300 });
    expect(t.body.access_token).toBe(t.body.token);
    const res = await manifest(`Bearer ${t.body.token}`);
    expect(res.status, res.text).toBe(200);
    expect((await lastPull()).user).toBe('alice');
    const forged = `${t.body.token.slice(0, -4)}AAAA`;
    expect((await manifest(`Bearer ${forged}`)).status).toBe(401);
    expect((await request(app.express).get('/auth/token')).status).toBe(401);
    // A configured token also works as a bearer token directly.
    expect((await manifest(bearer('ci'))).status).toBe(200);
    // Another replica accepts it too, and so does this one after a restart: the signing key is in the database.
    const replica = await ws.open();
    const onReplica = await request(replica.express).get('/v2/upstream.test/org/app/manifests/1').set('Accept', ACCEPT).set('Authorization', `Bearer ${t.body.token}`);
    expect(onReplica.status, onReplica.text).toBe(200);
    await replica.close();
    const restarted = await ws.open();
    expect((await request(restarted.express).get('/v2/').set('Authorization', `Bearer ${t.body.token}`)).status).toBe(200);
    await restarted.close();
  });

  it('logs one JSON line per request with id, method, path, status, duration and user, and no secret', () => {
    const records = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === 'request');
    const pulled = records.find((r) => r.user === 'ci' && r.status === 200 && String(r.path).includes('/manifests/'));
    expect(pulled).toMatchObject({ method: 'GET', path: '/v2/upstream.test/org/app/manifests/1', requestId: expect.any(String), durationMs: expect.any(Number) });
    const all = logLines.join('\n');
    for (const t of Object.values(TOKENS)) expect(all).not.toContain(t.secret);
    expect(all).not.toContain('wrong-secret-123');
  });

  it('slows down repeated bad credentials with 429 TOOMANYREQUESTS and Retry-After', async () => {
    let res;
    for (let i = 0; i < 10; i++) res = await manifest(basic('ci', `guess-${i}`));
    res = await manifest(basic('ci', 'guess-10'));
    expect(res.status).toBe(429);
    expect(res.body.errors[0].code).toBe('TOOMANYREQUESTS');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // A valid token is never refused for failures.
    expect((await manifest(basic('ci', TOKENS.ci.secret))).status).toBe(200);
    // The count is kept in the database: another replica refuses further guesses too, within a second.
    const replica = await ws.open();
    try {
      const started = Date.now();
      while ((await request(replica.express).get('/v2/').set('Authorization', basic('ci', 'guess-11'))).status !== 429) {
        expect(Date.now() - started).toBeLessThan(2000);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await replica.close();
    }
  });
});

describe.each(backends.names)('anonymous pulls (%s)', (backend) => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => {
    ws = await workspace('anon');
    await ws.write(baseConfig({ database: await backends.database(backend) }));
    app = await ws.open();
  });
  afterAll(() => ws.remove());

  it('needs no credentials, and still attributes valid ones', async () => {
    expect((await request(app.express).get('/v2/')).status).toBe(200);
    await request(app.express).get('/v2/upstream.test/org/app/manifests/1').set('Authorization', basic('ci', TOKENS.ci.secret));
    await request(app.express).get('/v2/upstream.test/org/app/manifests/2').set('Authorization', basic('ci', 'stale'));
    const users = await queryColumn(app.config.database, `SELECT "user" FROM audit_events WHERE kind = 'pull.manifest' ORDER BY id`);
    expect(users).toEqual(['ci', null]);
  });
});
