import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { parseConfig } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { CLIENT_ID, CLIENT_SECRET, startOidcProvider, type TestProvider } from '../../helpers/oidc-provider.js';
import { freePort } from '../../helpers/tools.js';

/**
 * The single sign-on routes in process, against a real OpenID provider: what /auth/console/login sends the
 * browser to and the cookie it sets (Secure under TLS), and how the API treats a session cookie beside a token.
 */
const TOKEN = 'sso-routes-admin-token-7c2d';
let provider: TestProvider;
let dir: string;
const apps: App[] = [];

async function appWith(extra: Record<string, unknown>, sso: Record<string, unknown> = {}, issuer = provider.issuer): Promise<App> {
  const config = parseConfig({
    upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9' }],
    policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
    database: { path: `./${Math.random().toString(36).slice(2)}.db` },
    storage: { path: './store' },
    auth: {
      tokens: [{ name: 'ops', role: 'admin', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') }],
      oidc: { console: { issuer, clientId: CLIENT_ID, clientSecretEnv: 'SSO_SECRET', roles: { admin: { groups: ['platform-admins'] } }, ...sso } },
    },
    ...extra,
  }, join(dir, 'config.json'), { SSO_SECRET: CLIENT_SECRET });
  const app = await createApp(config, { log: silentLogger, maintenance: false });
  apps.push(app);
  return app;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sso-routes-'));
  provider = await startOidcProvider(await freePort(), ['https://proxy.example/auth/console/callback']);
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await provider?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('single sign-on routes', () => {
  it('sends the browser to the provider with PKCE, state and nonce, binding the sign-in with a Secure cookie under TLS', async () => {
    const app = await appWith({ tls: { cert: 'cert.pem', key: 'key.pem' } }, { redirectUrl: 'https://proxy.example/auth/console/callback' });
    expect((await request(app.handler).get('/auth/console/provider')).body).toEqual({ name: '127.0.0.1:' + new URL(provider.issuer).port, loginUrl: '/auth/console/login', available: true });
    const res = await request(app.handler).get('/auth/console/login');
    expect(res.status).toBe(302);
    const to = new URL(res.headers.location!);
    expect(`${to.origin}`).toBe(provider.issuer);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: 'https://proxy.example/auth/console/callback',
      code_challenge_method: 'S256', code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      state: expect.stringMatching(/^[\w-]{20,}$/), nonce: expect.stringMatching(/^[\w-]{20,}$/),
    });
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('portcullis_signin='))!;
    expect(cookie).toMatch(/; Path=\/auth\/console\//);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Lax/);
  });

  it('sets no Secure flag over plain http, refuses a callback without state, and keeps bearer tokens first', async () => {
    const app = await appWith({});
    const login = await request(app.handler).get('/auth/console/login').set('Host', '127.0.0.1:5000');
    expect(new URL(login.headers.location!).searchParams.get('redirect_uri')).toBe('http://127.0.0.1:5000/auth/console/callback');
    expect((login.headers['set-cookie'] as unknown as string[]).join()).not.toMatch(/Secure/);
    // A Host header that is no host name cannot become the callback.
    const hostile = await request(app.handler).get('/auth/console/login').set('Host', 'evil.example/path?');
    expect(decodeURIComponent(hostile.headers.location!)).toContain('names no valid Host');

    const stateless = await request(app.handler).get('/auth/console/callback?code=abc');
    expect(stateless.status).toBe(302);
    expect(decodeURIComponent(stateless.headers.location!)).toContain('/ui/?signin_error=Sign-in refused: the callback carries no state');

    const stale = await request(app.handler).get('/api/v1/whoami').set('Cookie', 'portcullis_session=not-a-live-session');
    expect(stale.status).toBe(401);
    expect(stale.body.error.message).toContain('session has ended');
    const both = await request(app.handler).get('/api/v1/whoami').set('Cookie', 'portcullis_session=not-a-live-session').set('Authorization', `Bearer ${TOKEN}`);
    expect(both.body).toEqual({ name: 'ops', role: 'admin' });
  });
});

describe('a provider that accepts connections and never answers', () => {
  let silent: Server;
  const held: Socket[] = [];

  beforeAll(async () => {
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('holds nobody: tokens are served at once, and single sign-on says it timed out', async () => {
    const port = (silent.address() as { port: number }).port;
    const app = await appWith({}, {}, `http://127.0.0.1:${port}`);
    const started = Date.now();
    const [status, whoami] = await Promise.all([
      request(app.handler).get('/auth/console/provider'),
      request(app.handler).get('/api/v1/whoami').set('Authorization', `Bearer ${TOKEN}`).then((r) => ({ r, at: Date.now() - started })),
    ]);
    expect(whoami.r.body).toEqual({ name: 'ops', role: 'admin' });
    expect(whoami.at).toBeLessThan(2_000);
    expect(status.body).toMatchObject({ available: false, reason: expect.stringMatching(new RegExp(`^the provider http://127\\.0\\.0\\.1:${port} cannot be used: .*(time|abort)`, 'i')) });
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});
