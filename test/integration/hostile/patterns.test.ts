import { request as httpRequest } from 'node:http';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';

/**
 * A glob an admin wrote and a name a client chose cannot freeze the proxy: matching runs in linear time,
 * so while a hostile request is matched against a hostile glob, everyone else keeps being served.
 */

const HOSTILE = { name: 'hostile', match: ['upstream.test/**-**-**-**-**-**-**-**-x'], mode: 'deny' };
/** 60 segments with a dash each: 239 characters, within the 255 a repository name may have. */
const LONG_NAME = Array.from({ length: 60 }, () => 'a-a').join('/');

function get(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path.slice(0, 60)}… within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

describe('hostile patterns', () => {
  let proxy: Proxy;

  beforeAll(async () => {
    proxy = await startProxy({
      // Nothing listens there: these requests are decided before the upstream is asked.
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '1s' }],
      policies: [HOSTILE],
      extra: { log: { level: 'error' } },
    });
  });

  afterAll(async () => {
    // A frozen proxy would not stop on SIGTERM.
    await proxy?.stop('SIGKILL');
    if (proxy) await rm(proxy.dataDir, { recursive: true, force: true });
  });

  it('keeps answering /healthz while a 60-segment name is matched against a hostile glob, and answers that request', async () => {
    const hostile = get(proxy.port, `/v2/upstream.test/${LONG_NAME}/tags/list`, 30_000);
    await new Promise((r) => setTimeout(r, 50));
    const health = await get(proxy.port, '/healthz', 2_000);
    expect(health.status).toBe(200);
    const answer = await hostile;
    expect(answer.status).toBe(403);
    expect(answer.body).toContain(`no policy rule matches upstream.test/${LONG_NAME}`);
    expect(answer.ms).toBeLessThan(2_000);
  });

  it('applies the hostile rule to a long name it does match', async () => {
    const answer = await get(proxy.port, `/v2/upstream.test/${LONG_NAME}-x/tags/list`, 5_000);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('portcullis: policy \\"hostile\\": denied by policy');
  });
});
