import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { cli } from '../admin/fixture.js';

/** The live audit stream of a running proxy: events other processes write, and a prompt shutdown. */
const TOKEN = 'live-auditor-token-7c1d';
const ADMIN_TOKEN = 'live-admin-token-93ab';
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');

describe('live audit stream of a running proxy', () => {
  let proxy: Proxy;

  beforeAll(async () => {
    proxy = await startProxy({
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '1s' }],
      extra: { auth: { pull: 'anonymous', tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: sha256(TOKEN) }] } },
    });
  });
  afterAll(async () => {
    await proxy?.stop('SIGKILL');
  });

  it('streams an event another process writes, and ends when the proxy stops without holding it up', async () => {
    const res = await fetch(`${proxy.url}/api/v1/audit/events/live?kind=cache.purge`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (done: () => boolean) => {
      while (!done()) {
        const chunk = await reader.read();
        if (chunk.done) return true;
        text += new TextDecoder().decode(chunk.value);
      }
      return false;
    };
    // The CLI writes to the same database from its own process.
    const purge = await cli(['cache', 'purge', '--config', proxy.configPath, '--repository', 'upstream.test/org/app']);
    expect(purge.code, purge.stderr).toBe(0);
    await readUntil(() => text.includes('event: audit'));
    const data = /data: (.*)\n/.exec(text)![1]!;
    expect(JSON.parse(data)).toMatchObject({ kind: 'cache.purge', repository: 'upstream.test/org/app', client: 'local' });

    const started = Date.now();
    const [code, ended] = await Promise.all([proxy.stop('SIGTERM'), readUntil(() => false)]);
    expect(ended).toBe(true);
    expect(code).toBe(0);
    // Well within the 10 s the server grants requests in progress.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('live audit streams per identity', () => {
  let proxy: Proxy;

  beforeAll(async () => {
    proxy = await startProxy({
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '1s' }],
      extra: {
        // One process: the limit is per process, and workers would share the streams out between them.
        server: { workers: 1 },
        auth: { pull: 'anonymous', tokens: [
          { name: 'audrey', role: 'auditor', tokenSha256: sha256(TOKEN) },
          { name: 'alice', role: 'admin', tokenSha256: sha256(ADMIN_TOKEN) },
        ] },
      },
    });
  });
  afterAll(async () => {
    await proxy?.stop('SIGKILL');
  });

  it('caps the streams one identity holds, so one auditor cannot lock everyone else out of Live', async () => {
    const aborts: AbortController[] = [];
    const open = (token: string) => {
      const abort = new AbortController();
      aborts.push(abort);
      return fetch(`${proxy.url}/api/v1/audit/events/live`, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
    };
    try {
      // The default limit per identity is 5.
      for (let i = 0; i < 5; i++) expect((await open(TOKEN)).status).toBe(200);
      const sixth = await open(TOKEN);
      expect(sixth.status, proxy.logs().filter((l) => l.includes('live') || l.includes('error')).join('\n')).toBe(429);
      expect(sixth.headers.get('retry-after')).toMatch(/^\d+$/);
      const body = (await sixth.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('TOOMANYREQUESTS');
      expect(body.error.message).toContain('5 live audit streams');
      expect(body.error.message).toContain('audit.liveStreamsPerIdentity');
      // Another identity is not affected.
      expect((await open(ADMIN_TOKEN)).status).toBe(200);
      // A stream that ends frees its place.
      aborts[0]!.abort();
      const deadline = Date.now() + 10_000;
      let again = await open(TOKEN);
      while (again.status === 429 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        again = await open(TOKEN);
      }
      expect(again.status).toBe(200);
    } finally {
      for (const a of aborts) a.abort();
    }
  });
});
