import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { cli } from '../admin/fixture.js';

/** The live audit stream of a running proxy: events other processes write, and a prompt shutdown. */
const TOKEN = 'live-auditor-token-7c1d';

describe('live audit stream of a running proxy', () => {
  let proxy: Proxy;

  beforeAll(async () => {
    proxy = await startProxy({
      upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '1s' }],
      extra: { auth: { pull: 'anonymous', tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') }] } },
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
