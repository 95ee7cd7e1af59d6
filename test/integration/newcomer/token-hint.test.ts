import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { baseConfig, workspace, type Workspace } from '../admin/fixture.js';

/** `auth.pull: "token"`: a client that sends no credentials is told how to log in, not that a header is malformed. */
describe('a pull without credentials where tokens are required', () => {
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    ws = await workspace('token-hint');
    const config = baseConfig();
    await ws.write({ ...config, auth: { ...(config.auth as object), pull: 'token' } });
    app = await createApp(loadConfigFile(ws.configPath), { log: silentLogger });
  });
  afterAll(async () => {
    await app?.close();
    await ws?.remove();
  });

  const pull = (authorization?: string) => {
    const req = request(app.express).get('/v2/upstream.test/org/app/manifests/1').set('Host', 'proxy.example:5000');
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  it('says to log in with a token, naming the host the client used', async () => {
    // No header at all, and the empty Basic credentials (":") some clients send after the challenge.
    for (const authorization of [undefined, `Basic ${Buffer.from(':').toString('base64')}`, 'Basic ']) {
      const res = await pull(authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="portcullis"');
      const message = String(res.body.errors[0].message);
      expect(message, String(authorization)).toContain('this proxy requires a token: docker login proxy.example:5000');
      expect(message).not.toContain('malformed');
    }
  });

  it('never echoes a hostile Host header into the hint', async () => {
    const res = await request(app.express).get('/v2/upstream.test/org/app/manifests/1').set('Host', 'evil"; rm -rf /');
    expect(res.status).toBe(401);
    expect(String(res.body.errors[0].message)).toContain('docker login HOST');
    expect(String(res.body.errors[0].message)).not.toContain('rm -rf');
  });
});
