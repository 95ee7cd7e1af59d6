import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpstreamClient } from '../../../src/upstream/upstream-client.js';
import { UpstreamError } from '../../../src/upstream/errors.js';
import { CircuitBreaker } from '../../../src/upstream/circuit-breaker.js';
import { silentLogger } from '../../../src/logger.js';
import type { UpstreamConfig } from '../../../src/config/types.js';

/**
 * The upstream client against in-process servers. A fixture is used here because these are behaviours of
 * registries the local distribution build cannot show: a separate token service (Docker Hub's auth flow),
 * blob redirects to another host (a CDN), 429 with Retry-After, and transient 503s.
 */
interface Seen {
  path: string;
  authorization?: string;
}

function listen(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

describe('UpstreamClient', () => {
  let registry: { server: Server; url: string };
  let auth: { server: Server; url: string };
  let cdn: { server: Server; url: string };
  let registrySeen: Seen[];
  let authSeen: Seen[];
  let cdnSeen: Seen[];
  let flaky: number;

  beforeAll(async () => {
    auth = await listen((req, res) => {
      authSeen.push({ path: req.url!, authorization: req.headers.authorization });
      const expected = `Basic ${Buffer.from('robot:s3cret').toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'tok-1', expires_in: 300 }));
    });
    cdn = await listen((req, res) => {
      cdnSeen.push({ path: req.url!, authorization: req.headers.authorization });
      res.writeHead(200, { 'content-length': '5' }).end('hello');
    });
    registry = await listen((req, res) => {
      registrySeen.push({ path: req.url!, authorization: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer tok-1') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${auth.url}/token",service="fixture",scope="repository:org/app:pull"` }).end();
        return;
      }
      if (req.url!.includes('/blobs/')) {
        res.writeHead(307, { location: `${cdn.url}/data/blob?sig=1` }).end();
      } else if (req.url!.includes('/flaky')) {
        if (flaky-- > 0) res.writeHead(503).end();
        else res.writeHead(200).end('ok');
      } else if (req.url!.includes('/limited')) {
        res.writeHead(429, { 'retry-after': '120' }).end();
      } else {
        res.writeHead(200).end('{}');
      }
    });
  });

  beforeEach(() => {
    registrySeen = [];
    authSeen = [];
    cdnSeen = [];
    flaky = 0;
  });

  afterAll(() => {
    for (const s of [registry, auth, cdn]) s.server.close();
  });

  const client = (over: Partial<UpstreamConfig> = {}, breaker?: CircuitBreaker) =>
    new UpstreamClient(
      { name: 'fixture', url: registry.url, username: 'robot', password: 's3cret', tagTtlMs: 1000, connectTimeoutMs: 2000, idleTimeoutMs: 2000, retries: 2, ...over },
      silentLogger,
      {},
      breaker,
    );

  it('answers a Bearer challenge with the token service and caches the token per scope', async () => {
    const c = client();
    for (let i = 0; i < 3; i++) {
      const res = await c.send('GET', 'org/app', 'org/app/manifests/1');
      expect(res.status).toBe(200);
      await res.body.dump();
    }
    expect(authSeen).toHaveLength(1);
    expect(authSeen[0]!.path).toContain('scope=repository%3Aorg%2Fapp%3Apull');
    expect(authSeen[0]!.path).toContain('service=fixture');
    expect(registrySeen.filter((r) => r.authorization === 'Bearer tok-1')).toHaveLength(3);
    await c.close();
  });

  it('follows a blob redirect to another host without sending credentials there', async () => {
    const c = client();
    const res = await c.send('GET', 'org/app', 'org/app/blobs/sha256:00');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.body.arrayBuffer()).toString()).toBe('hello');
    expect(cdnSeen).toEqual([{ path: '/data/blob?sig=1', authorization: undefined }]);
    await c.close();
  });

  it('retries transient 5xx responses, then gives up with a typed error', async () => {
    const c = client();
    flaky = 2;
    const res = await c.send('GET', 'org/app', 'org/app/flaky');
    expect(res.status).toBe(200);
    await res.body.dump();
    flaky = 10;
    await expect(c.send('GET', 'org/app', 'org/app/flaky')).rejects.toMatchObject({ kind: 'server-error', status: 503 });
    await c.close();
  });

  it('does not sit out a long Retry-After: it reports rate limiting with the wait', async () => {
    const c = client();
    const err = await c.send('GET', 'org/app', 'org/app/limited').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: 'rate-limited', retryAfterSeconds: 120 });
    await c.close();
  });

  it('reports wrong credentials as an auth failure', async () => {
    const c = client({ password: 'wrong' });
    await expect(c.send('GET', 'org/app', 'org/app/manifests/1')).rejects.toMatchObject({ kind: 'auth' });
    await c.close();
  });

  it('reports an unreachable upstream after its retries', async () => {
    const c = client({ url: 'http://127.0.0.1:9', retries: 1 });
    await expect(c.send('GET', 'org/app', 'org/app/manifests/1')).rejects.toMatchObject({ kind: 'unreachable' });
    await c.close();
  });

  it('marks an upstream down after repeated failures, fails fast, and probes again after the cooldown', async () => {
    const c = client({ retries: 0 }, new CircuitBreaker(3, 300));
    flaky = 1000;
    for (let i = 0; i < 3; i++) await expect(c.send('GET', 'org/app', 'org/app/flaky')).rejects.toMatchObject({ kind: 'server-error' });
    const before = registrySeen.length;
    const started = performance.now();
    await expect(c.send('GET', 'org/app', 'org/app/flaky')).rejects.toThrow(/marked down/);
    expect(performance.now() - started).toBeLessThan(50);
    expect(registrySeen.length).toBe(before);
    await new Promise((r) => setTimeout(r, 350));
    flaky = 0;
    const res = await c.send('GET', 'org/app', 'org/app/flaky');
    expect(res.status).toBe(200);
    await res.body.dump();
    expect(registrySeen.length).toBe(before + 1);
    await c.close();
  });
  it('keeps running when a body breaks off before anyone reads it, and the reader then gets the error', async () => {
    // Headers, then the connection closes: the body fails while its caller is still busy elsewhere.
    const cut = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.flushHeaders();
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const c = new UpstreamClient(
      { name: 'cut', url: cut.url, tagTtlMs: 1000, connectTimeoutMs: 2000, idleTimeoutMs: 2000, retries: 0 },
      silentLogger,
      {},
    );
    const res = await c.send('GET', 'org/app', 'org/app/blobs/sha256:00');
    expect(res.status).toBe(200);
    // An 'error' nobody listens for would end the process here (vitest reports it as an unhandled error).
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(res.body.arrayBuffer()).rejects.toThrow();
    await c.close();
    cut.server.close();
  });
});
