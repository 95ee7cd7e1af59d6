import { createHash } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/tools.js';
import { ACCOUNTS, CLIENT_ID, CLIENT_SECRET, startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { CHROMIUM, launchBrowser, signIn as tokenSignIn } from './console-support.js';
import { existsSync } from 'node:fs';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Single sign-on of people to the console, in a real browser against a real OpenID provider (oidc-provider)
 * and the built proxy (two worker processes: the session is in the database, not in one process's memory).
 */
const ADMIN_TOKEN = 'e2e-sso-ops-token-3b8c1f';
const tokens = [{ name: 'ops', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') }];
const OPEN = [{ name: 'open', match: ['**'], mode: 'allow' }];

function ssoSettings(issuer: string, name: string) {
  return {
    issuer, name, clientId: CLIENT_ID, clientSecretEnv: 'PORTCULLIS_SSO_SECRET', scopes: ['openid', 'email', 'groups'],
    roles: { admin: { groups: ['platform-admins'] }, auditor: { groups: ['auditors'] } },
  };
}

describe.skipIf(!existsSync(CHROMIUM))('console single sign-on in a browser', () => {
  let provider: TestProvider;
  let proxy: Proxy;
  let browser: Browser;
  let context: BrowserContext;

  const asOps = (path: string) => fetch(`${proxy.url}/api/v1${path}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  const label = (who: string) => `${ACCOUNTS[who]!.email} (sub ${who}, ${provider.issuer})`;

  async function events(kind: string): Promise<Array<{ user: string | null; reasons: string[]; evidence: Record<string, unknown> | null; status: number }>> {
    const res = await asOps(`/audit/events?kind=${encodeURIComponent(kind)}&order=desc`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: never[] }).events;
  }

  /** Signs in at the provider's own pages (any login name, no password), then its consent page. */
  async function ssoSignIn(page: Page, who: string, callbacks: string[] = []): Promise<void> {
    page.on('request', (r) => { if (r.url().includes('/auth/console/callback')) callbacks.push(r.url()); });
    await page.goto(`${proxy.url}/ui/`);
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.locator('input[name="login"]').fill(who);
    await page.locator('input[name="password"]').fill('anything');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.pathname === '/ui/');
  }

  beforeAll(async () => {
    const providerPort = await freePort();
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: 'http://127.0.0.1:9' }],
      policies: OPEN,
      dataDir: await tempDir('sso'),
      extra: { server: { workers: 2 }, auth: { tokens, oidc: { console: ssoSettings(`http://127.0.0.1:${providerPort}`, 'Test IdP') } } },
      env: { PORTCULLIS_SSO_SECRET: CLIENT_SECRET },
    });
    provider = await startOidcProvider(providerPort, [`${proxy.url}/auth/console/callback`]);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    await provider?.stop();
    await removeTempDirs();
  });

  beforeEach(async () => {
    context = await browser.newContext();
    // The provider's pages import a web font; there is no internet here.
    await context.route(/fonts\.googleapis\.com/, (route) => route.abort());
  });

  afterEach(async () => {
    await context?.close();
  });

  it('an admin signs in with the provider; the session cookie is HttpOnly and SameSite=Strict; writes need the CSRF token; the audit log names the person', async () => {
    const page = await context.newPage();
    await ssoSignIn(page, 'alice');
    await expect.poll(() => page.locator('#whoami').textContent()).toBe(`Signed in as ${label('alice')} (admin)`);
    const cookie = (await context.cookies()).find((c) => c.name === 'portcullis_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
    expect(cookie.expires).toBeGreaterThan(Date.now() / 1000);
    expect(cookie.expires).toBeLessThanOrEqual(Date.now() / 1000 + 3600 + 5);

    // The page's own fetches carry the cookie: a write without the CSRF header is refused, with it accepted.
    const put = (csrf?: string) => page.evaluate(async (token) => {
      const res = await fetch('/api/v1/policy', {
        method: 'PUT', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...(token ? { 'X-CSRF-Token': token } : {}) },
        body: JSON.stringify({ policies: [{ name: 'blocked', match: ['upstream.test/blocked/**'], mode: 'deny' }, { name: 'open', match: ['**'], mode: 'allow' }], comment: 'block blocked/' }),
      });
      return { status: res.status, body: await res.text() };
    }, csrf);
    const refused = await put();
    expect(refused.status, refused.body).toBe(403);
    expect(refused.body).toContain('X-CSRF-Token'.toLowerCase());
    const wrong = await put('not-the-token');
    expect(wrong.status).toBe(403);
    const whoami = await page.evaluate(async () => (await fetch('/api/v1/whoami', { credentials: 'same-origin' })).json()) as { csrfToken: string; person: unknown };
    expect(whoami.person).toEqual({ subject: 'alice', issuer: provider.issuer, name: ACCOUNTS.alice!.email });
    const accepted = await put(whoami.csrfToken);
    expect(accepted.status, accepted.body).toBe(200);

    const [signin] = await events('auth.signin');
    expect(signin).toMatchObject({ user: label('alice'), evidence: { subject: 'alice', issuer: provider.issuer, name: ACCOUNTS.alice!.email } });
    expect((await events('policy.update'))[0]!.user).toBe(label('alice'));
    const [csrf] = await events('auth.failure');
    expect(csrf).toMatchObject({ user: label('alice'), status: 403 });
    // Bearer tokens keep working beside sessions.
    expect((await (await asOps('/whoami')).json())).toEqual({ name: 'ops', role: 'admin' });
  });

  it('a person whose groups map to no role is refused with the reason, and the refusal names them', async () => {
    const page = await context.newPage();
    await ssoSignIn(page, 'mallory');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Sign-in refused: no role is mapped to this account (groups: ["contractors"])');
    await page.getByLabel('API token').waitFor();
    expect((await context.cookies()).some((c) => c.name === 'portcullis_session')).toBe(false);
    const [refusal] = await events('auth.signin.refused');
    expect(refusal).toMatchObject({ user: label('mallory'), status: 403, evidence: { subject: 'mallory', issuer: provider.issuer } });
  });

  it('a replayed callback (state already used) signs nobody in', async () => {
    const page = await context.newPage();
    const callbacks: string[] = [];
    await ssoSignIn(page, 'audrey', callbacks);
    await expect.poll(() => page.locator('#whoami').textContent()).toBe(`Signed in as ${label('audrey')} (auditor)`);
    expect(callbacks).toHaveLength(1);
    // Someone who saw the callback URL replays it from another browser…
    const other = await browser.newContext();
    const replay = await other.newPage();
    await replay.goto(callbacks[0]!);
    await expect.poll(() => replay.getByRole('alert').textContent()).toContain('already used or expired');
    expect((await other.cookies()).some((c) => c.name === 'portcullis_session')).toBe(false);
    await other.close();
    // …or from the same one, as a plain request: no session either.
    const res = await fetch(callbacks[0]!, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toContain('signin_error=');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('portcullis_session=') && !c.startsWith('portcullis_session=;'))).toBe(false);
    // The refusals are audited; they name nobody, since nobody was signed in.
    await expect.poll(async () => (await events('auth.signin.refused')).filter((e) => e.user === null && e.reasons[0]!.includes('already used')).length).toBe(2);
  });

  it('sign-out ends the session at the server: the old cookie no longer works', async () => {
    const page = await context.newPage();
    await ssoSignIn(page, 'alice');
    await expect.poll(() => page.locator('#whoami').textContent()).toBe(`Signed in as ${label('alice')} (admin)`);
    const cookie = (await context.cookies()).find((c) => c.name === 'portcullis_session')!;
    const withCookie = (path: string, init: RequestInit = {}) => fetch(`${proxy.url}${path}`, { ...init, headers: { Cookie: `portcullis_session=${cookie.value}`, ...init.headers } });
    expect((await withCookie('/api/v1/whoami')).status).toBe(200);
    // Sign-out is a write: without the CSRF header it is refused and the session stays.
    expect((await withCookie('/auth/console/logout', { method: 'POST' })).status).toBe(403);
    expect((await withCookie('/api/v1/whoami')).status).toBe(200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    const after = await withCookie('/api/v1/whoami');
    expect(after.status).toBe(401);
    expect(await after.text()).toContain('session has ended');
    expect((await events('auth.signout'))[0]!.user).toBe(label('alice'));
  });

  it('never writes the client secret, a code or a session cookie to its log', async () => {
    const page = await context.newPage();
    const callbacks: string[] = [];
    await ssoSignIn(page, 'alice', callbacks);
    await expect.poll(() => page.locator('#whoami').textContent()).toContain('alice');
    const session = (await context.cookies()).find((c) => c.name === 'portcullis_session')!.value;
    const code = new URL(callbacks[0]!).searchParams.get('code')!;
    const log = proxy.logs().join('\n');
    expect(log).toContain('single sign-on provider discovered');
    for (const secret of [CLIENT_SECRET, session, code]) expect(log).not.toContain(secret);
  });

  describe('when the provider does not know the callback', () => {
    let stray: Proxy;

    beforeAll(async () => {
      stray = await startProxy({
        upstreams: [{ name: UPSTREAM, url: 'http://127.0.0.1:9' }],
        policies: OPEN,
        dataDir: await tempDir('sso-stray'),
        extra: { server: { workers: 1 }, auth: { tokens, oidc: { console: ssoSettings(provider.issuer, 'Test IdP') } } },
        env: { PORTCULLIS_SSO_SECRET: CLIENT_SECRET },
      });
    }, 60_000);

    afterAll(async () => {
      await stray?.stop();
    });

    it('the provider refuses a redirect URI it was not given, and no session is made', async () => {
      const page = await context.newPage();
      await page.goto(`${stray.url}/ui/`);
      await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
      await expect.poll(() => page.locator('body').textContent()).toContain("redirect_uri did not match any of the client's registered redirect_uris");
      expect((await context.cookies()).some((c) => c.name === 'portcullis_session')).toBe(false);
    });
  });

  it('a sign-in cancelled at the provider comes back with the provider\'s reason', async () => {
    const page = await context.newPage();
    await page.goto(`${proxy.url}/ui/`);
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.getByRole('link', { name: '[ Cancel ]' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Sign-in refused: the provider refused: access_denied');
    expect((await context.cookies()).some((c) => c.name === 'portcullis_session')).toBe(false);
  });

  describe('when the provider is down', () => {
    let down: Proxy;

    beforeAll(async () => {
      const nobody = await freePort();
      down = await startProxy({
        upstreams: [{ name: UPSTREAM, url: 'http://127.0.0.1:9' }],
        policies: OPEN,
        dataDir: await tempDir('sso-down'),
        extra: { server: { workers: 1 }, auth: { tokens, oidc: { console: ssoSignInSettings(nobody) } } },
        env: { PORTCULLIS_SSO_SECRET: CLIENT_SECRET },
      });
    }, 60_000);

    afterAll(async () => {
      await down?.stop();
    });

    const ssoSignInSettings = (port: number) => ssoSettings(`http://127.0.0.1:${port}`, 'Down IdP');

    it('the console says why single sign-on cannot be used, and token sign-in still works', async () => {
      const page = await context.newPage();
      await page.goto(`${down.url}/ui/`);
      await expect.poll(() => page.locator('.sso').textContent()).toMatch(/Sign-in with Down IdP is unavailable: the provider http:\/\/127\.0\.0\.1:\d+ cannot be used: .*ECONNREFUSED/);
      // Going to the sign-in route anyway comes back with the reason.
      const res = await fetch(`${down.url}/auth/console/login`, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(decodeURIComponent(res.headers.get('location')!)).toContain('Single sign-on is unavailable');
      await tokenSignIn(page, `${down.url}/ui/`, { name: 'ops', role: 'admin', secret: ADMIN_TOKEN });
    });
  });
});
