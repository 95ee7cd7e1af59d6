import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { queryRows } from '../../helpers/db-query.js';
import { basic, baseConfig, bearer, TOKENS, workspace, type Workspace } from './fixture.js';

/**
 * Failed credentials are counted per client address and claimed user, never refuse a valid credential,
 * and the client address comes from `X-Forwarded-For` only when a trusted proxy sends it.
 */

async function authFailures(app: App): Promise<Array<{ client: string; user: string | null; status: number }>> {
  return queryRows(app.config.database, `SELECT client, "user", status FROM audit_events WHERE kind = 'auth.failure' ORDER BY id`);
}

async function open(prefix: string, server?: Record<string, unknown>): Promise<{ ws: Workspace; app: App }> {
  const ws = await workspace(prefix);
  const config = baseConfig(server ? { server } : {});
  await ws.write({ ...config, auth: { ...(config.auth as object), pull: 'token' } });
  return { ws, app: await ws.open() };
}

describe('failed-credential lockout', () => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => ({ ws, app } = await open('lockout')));
  afterAll(() => ws?.remove());

  const pullBase = (auth: string, forwarded?: string) => {
    const req = request(app.express).get('/v2/').set('Authorization', auth);
    return forwarded ? req.set('X-Forwarded-For', forwarded) : req;
  };

  it('ten bad attempts for one user lock out neither another user nor that user\'s valid token', async () => {
    for (let i = 0; i < 10; i++) expect((await pullBase(basic('ci', `guess-${i}`))).status).toBe(401);
    const guess = await pullBase(basic('ci', 'guess-10'));
    expect(guess.status).toBe(429);
    expect(guess.body.errors[0].code).toBe('TOOMANYREQUESTS');
    expect(Number(guess.headers['retry-after'])).toBeGreaterThan(0);
    // The same address, another user: counted apart.
    expect((await pullBase(basic('alice', 'wrong'))).status).toBe(401);
    // The guessed user's own valid token still works, by Basic and as a bearer token.
    expect((await pullBase(basic('ci', TOKENS.ci.secret))).status).toBe(200);
    expect((await pullBase(bearer('ci'))).status).toBe(200);
    expect((await request(app.express).get('/api/v1/policy').set('Authorization', bearer('alice'))).status).toBe(200);
  });

  it('a flood of unknown bearer tokens from one address does not lock out the admins there', async () => {
    const api = (auth: string) => request(app.express).get('/api/v1/policy').set('Authorization', auth);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await api(`Bearer flood-${i}`)).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    expect((await api(bearer('alice'))).status).toBe(200);
    expect((await api(bearer('audrey'))).status).toBe(200);
  });
});

describe('client address behind trusted proxies', () => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => ({ ws, app } = await open('xff-trusted', { trustedProxies: ['127.0.0.1', '10.0.0.0/8'] })));
  afterAll(() => ws?.remove());

  const pullBase = (auth: string, forwarded: string) =>
    request(app.express).get('/v2/').set('Authorization', auth).set('X-Forwarded-For', forwarded);

  it('counts and audits the client a trusted proxy names, by the rightmost untrusted hop', async () => {
    for (let i = 0; i < 10; i++) expect((await pullBase(basic('ci', `guess-${i}`), '203.0.113.5')).status).toBe(401);
    // Another client behind the same proxy is not affected.
    expect((await pullBase(basic('ci', 'guess'), '198.51.100.7')).status).toBe(401);
    // A client cannot step aside by claiming an address of its own: the hop the proxy saw counts, and
    // trusted hops (10.x, the proxy chain) are skipped.
    expect((await pullBase(basic('ci', 'guess'), '192.0.2.1, 203.0.113.5')).status).toBe(429);
    expect((await pullBase(basic('ci', 'guess'), '192.0.2.1, 203.0.113.5, 10.1.2.3')).status).toBe(429);
    const failures = await authFailures(app);
    expect(failures.slice(0, 10).every((f) => f.client === '203.0.113.5' && f.user === 'ci')).toBe(true);
    expect(failures[10]).toMatchObject({ client: '198.51.100.7', user: 'ci', status: 401 });
    // Events of other kinds record the same client.
    await request(app.express).get('/v2/upstream.test/org/app/manifests/1').set('X-Forwarded-For', '203.0.113.9');
    await app.audit.drain();
    const refused = await queryRows<{ client: string }>(app.config.database, `SELECT client FROM audit_events WHERE kind = 'request.refused' ORDER BY id DESC LIMIT 1`);
    expect(refused[0]?.client).toBe('203.0.113.9');
  });

  it('bounds guesses that claim a new user name each time, still without refusing a valid token', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) statuses.push((await pullBase(basic(`user-${i}`, 'guess'), '203.0.113.50')).status);
    expect(statuses.slice(0, 100).every((s) => s === 401)).toBe(true);
    expect(statuses[100]).toBe(429);
    expect((await pullBase(basic('ci', TOKENS.ci.secret), '203.0.113.50')).status).toBe(200);
  }, 60_000);
});

describe('client address without trusted proxies', () => {
  let ws: Workspace;
  let app: App;
  beforeAll(async () => ({ ws, app } = await open('xff-untrusted', { trustedProxies: ['10.0.0.0/8'] })));
  afterAll(() => ws?.remove());

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const pullBase = (auth: string, forwarded: string) =>
      request(app.express).get('/v2/').set('Authorization', auth).set('X-Forwarded-For', forwarded);
    // A new claimed address on every guess changes nothing: the peer is what counts.
    for (let i = 0; i < 10; i++) expect((await pullBase(basic('ci', `guess-${i}`), `203.0.113.${i}`)).status).toBe(401);
    expect((await pullBase(basic('ci', 'guess'), '203.0.113.77')).status).toBe(429);
    const failures = await authFailures(app);
    expect(failures).toHaveLength(10);
    expect(failures.every((f) => f.client === '127.0.0.1')).toBe(true);
  });
});
