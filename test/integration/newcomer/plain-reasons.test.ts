import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { createLogger } from '../../../src/logger.js';
import { baseConfig, workspace, type Workspace } from '../admin/fixture.js';

/** What a newcomer reads when a pull fails: the cause in words, and what to do, rather than an error code. */
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

describe('failure reasons in plain words', () => {
  let ws: Workspace;
  let app: App;
  const logLines: string[] = [];

  beforeAll(async () => {
    ws = await workspace('plain-reasons');
    await ws.write(baseConfig({
      upstreams: [
        { name: 'registry.nonexistent.invalid', url: 'http://registry.nonexistent.invalid', retries: 0, connectTimeout: '5s' },
        { name: 'refusing.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '5s' },
      ],
      defaultUpstream: 'refusing.test',
    }));
    app = await createApp(loadConfigFile(ws.configPath), { log: createLogger('info', {}, (l) => logLines.push(l)) });
  });
  afterAll(async () => {
    await app?.close();
    await ws?.remove();
  });

  it('says the DNS lookup of the registry failed, not ENOTFOUND, to the client and in the log', async () => {
    const res = await request(app.express).get('/v2/registry.nonexistent.invalid/org/app/manifests/1').set('Accept', ACCEPT);
    expect(res.status).toBeGreaterThanOrEqual(500);
    const message = String(res.body.errors[0].message);
    expect(message).toContain('DNS lookup of registry.nonexistent.invalid failed');
    expect(message).not.toMatch(/ENOTFOUND|EAI_AGAIN/);
    const logged = logLines.filter((l) => l.includes('registry.nonexistent.invalid/org/app'));
    expect(logged.join('\n')).toContain('DNS lookup of registry.nonexistent.invalid failed');
  });

  it('says the connection was refused, naming the address', async () => {
    const res = await request(app.express).get('/v2/refusing.test/org/app/manifests/1').set('Accept', ACCEPT);
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(String(res.body.errors[0].message)).toContain('connection to 127.0.0.1:9 refused');
    expect(String(res.body.errors[0].message)).not.toContain('ECONNREFUSED');
  });
});
