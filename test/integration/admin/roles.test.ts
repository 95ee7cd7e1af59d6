import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { ALLOW_ALL, baseConfig, bearer, TOKENS, workspace, type TokenName, type Workspace } from './fixture.js';
import { queryColumn, queryRows } from '../../helpers/db-query.js';
import Database from 'better-sqlite3';
import { join } from 'node:path';

function forgetFailures(dbPath: string): void {
  const db = new Database(dbPath);
  db.exec('DELETE FROM auth_failures');
  db.close();
}

/**
 * Every role against every /api/v1 endpoint: who gets in (2xx or a non-auth 4xx/5xx), who is refused
 * (403), and that missing or unknown tokens get 401 with a challenge.
 */
type Caller = TokenName | 'none' | 'unknown';

interface Endpoint {
  method: 'get' | 'put' | 'post';
  path: string;
  body?: unknown;
  /** Roles allowed besides admin. */
  allowed: TokenName[];
}

const ENDPOINTS: Endpoint[] = [
  { method: 'get', path: '/api/v1/whoami', allowed: ['audrey', 'ci'] },
  { method: 'get', path: '/api/v1/policy', allowed: ['audrey'] },
  { method: 'put', path: '/api/v1/policy', body: { policies: ALLOW_ALL }, allowed: [] },
  { method: 'get', path: '/api/v1/policy/versions', allowed: ['audrey'] },
  { method: 'get', path: '/api/v1/policy/versions/1', allowed: ['audrey'] },
  // Version 2 (the PUT above) has the same rules as version 1: a rollback to it would change nothing.
  { method: 'put', path: '/api/v1/policy', body: { policies: [{ name: 'other', match: ['**'], mode: 'allow' }] }, allowed: [] },
  { method: 'post', path: '/api/v1/policy/rollback', body: { version: 1 }, allowed: [] },
  // The upstream is a closed port: an admitted caller gets the upstream error, not an auth error.
  { method: 'post', path: '/api/v1/policy/evaluate', body: { image: 'upstream.test/org/app:1' }, allowed: ['audrey'] },
  { method: 'post', path: '/api/v1/policy/replay', body: { policies: ALLOW_ALL, since: '7d' }, allowed: [] },
  { method: 'get', path: '/api/v1/audit/events', allowed: ['audrey'] },
  { method: 'get', path: '/api/v1/audit/events?format=csv', allowed: ['audrey'] },
  { method: 'get', path: '/api/v1/audit/events/1', allowed: ['audrey'] },
  { method: 'get', path: '/api/v1/audit/summary', allowed: ['audrey'] },
  { method: 'get', path: '/api/v1/audit/verify', allowed: ['audrey'] },
  { method: 'post', path: '/api/v1/cache/purge', body: { repository: 'upstream.test/org/app' }, allowed: [] },
];

const CALLERS: Caller[] = ['alice', 'audrey', 'ci', 'none', 'unknown'];

describe('API roles', () => {
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    ws = await workspace('roles');
    await ws.write(baseConfig());
    app = await ws.open();
  });
  afterAll(() => ws.remove());

  for (const e of ENDPOINTS) {
    // Failed-credential counts are shared through the database: forget them for each endpoint, so the
    // unknown-token calls stay below the per-address failure limit (throttling has its own test below).
    let endpointApp: App | undefined;
    for (const caller of CALLERS) {
      const expected = caller === 'none' || caller === 'unknown' ? 401 : caller === 'alice' || e.allowed.includes(caller) ? 'admitted' : 403;
      it(`${e.method.toUpperCase()} ${e.path} as ${caller} → ${expected}`, async () => {
        if (!endpointApp) {
          forgetFailures(join(ws.dir, 'portcullis.db'));
          endpointApp = await ws.open();
        }
        let req = request(endpointApp.express)[e.method](e.path);
        if (caller === 'unknown') req = req.set('Authorization', 'Bearer not-a-configured-token');
        else if (caller !== 'none') req = req.set('Authorization', bearer(caller));
        const res = e.body === undefined ? await req : await req.send(e.body as object);
        if (expected === 'admitted') {
          expect([401, 403, 429], res.text).not.toContain(res.status);
          if (e.path.includes('evaluate')) expect(res.status, res.text).toBe(502);
          else expect(res.status, res.text).toBe(200);
        } else {
          expect(res.status, res.text).toBe(expected);
          expect(res.body.error.code).toBe(expected === 401 ? 'UNAUTHORIZED' : 'DENIED');
          if (expected === 401) expect(res.headers['www-authenticate']).toBe('Bearer realm="portcullis"');
        }
      });
    }
  }

  it('refuses Basic credentials on the API, which takes bearer tokens only', async () => {
    const res = await request(app.express).get('/api/v1/policy').auth('alice', TOKENS.alice.secret);
    expect(res.status).toBe(401);
  });

  it('records refused callers as auth.failure events that name the user but never a secret', async () => {
    await request(app.express).get('/api/v1/audit/verify').set('Authorization', 'Bearer wrong-secret-xyz');
    await request(app.express).put('/api/v1/policy').set('Authorization', bearer('ci')).send({ policies: ALLOW_ALL });
    const res = await request(app.express).get('/api/v1/audit/events?kind=auth.failure&limit=1000').set('Authorization', bearer('audrey'));
    const events = res.body.events as Array<{ user: string | null; status: number; reasons: string[]; client: string }>;
    expect(events.some((e) => e.status === 401 && e.reasons.includes('unknown token') && e.client)).toBe(true);
    expect(events.some((e) => e.status === 403 && e.user === 'ci')).toBe(true);
    const dump = JSON.stringify(await queryRows(app.config.database, 'SELECT * FROM audit_events'));
    for (const secret of ['wrong-secret-xyz', ...Object.values(TOKENS).map((t) => t.secret)]) expect(dump).not.toContain(secret);
  });
});

describe('repeated bad credentials', () => {
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    ws = await workspace('throttle');
    await ws.write(baseConfig());
    app = await ws.open();
  });
  afterAll(() => ws.remove());

  it('slows bad guesses from an address down with 429 and Retry-After, records the block, and still takes a valid token', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await request(app.express).get('/api/v1/policy').set('Authorization', `Bearer guess-${i}`);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const blocked = await request(app.express).get('/api/v1/policy').set('Authorization', 'Bearer guess-12');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.body.error.code).toBe('TOOMANYREQUESTS');
    expect((await request(app.express).get('/api/v1/policy').set('Authorization', bearer('alice'))).status).toBe(200);
    const rows = await queryColumn<string>(app.config.database, `SELECT reasons FROM audit_events WHERE kind = 'auth.failure'`);
    expect(rows).toHaveLength(10);
    expect(rows.some((r) => r.includes('too many failed attempts'))).toBe(true);
  });
});
