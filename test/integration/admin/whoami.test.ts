import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { baseConfig, bearer, workspace, type Workspace } from './fixture.js';

/** GET /api/v1/whoami names the token's holder and role, for every role; no token is 401. */
describe('GET /api/v1/whoami', () => {
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    ws = await workspace('whoami');
    await ws.write(baseConfig());
    app = await ws.open();
  });

  afterAll(async () => {
    await ws.remove();
  });

  it.each([
    ['alice', 'admin'],
    ['audrey', 'auditor'],
    ['ci', 'puller'],
  ] as const)('%s is told their name and role (%s)', async (name, role) => {
    const res = await request(app.handler).get('/api/v1/whoami').set('Authorization', bearer(name));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name, role });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('refuses a missing or unknown token with 401', async () => {
    const none = await request(app.handler).get('/api/v1/whoami');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const unknown = await request(app.handler).get('/api/v1/whoami').set('Authorization', 'Bearer not-a-token-at-all');
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe('UNAUTHORIZED');
  });
});
