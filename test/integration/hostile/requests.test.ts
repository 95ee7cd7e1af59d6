import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';

const skip = !haveTools(['docker-registry']);
const UPSTREAM = 'upstream.test';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path goes out exactly as given (fetch would normalise `..` and encodings). */
function raw(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

function ociCode(a: Answer): string | undefined {
  try {
    return (JSON.parse(a.body.toString('utf8')) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** Every file under `dir`, relative, with its size and mtime, except the proxy's own store and database. */
function snapshot(dir: string, skipNames: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skipNames.some((s) => p.startsWith(s))) continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${st.size} ${st.mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

// Path pieces chosen to probe traversal, encodings, separators and reference syntax.
const piece = fc.constantFrom(
  'a', 'org', 'app', '..', '.', '%2e%2e', '%2F', '%2f..%2f', '%00', '%', '%zz', '//', '\\', ':', '@', '~', '_', '-', '__',
  'sha256:', 'sha256:' + 'a'.repeat(64), 'sha512:' + 'b'.repeat(128), 'A', 'ü', ' ', ';', '$', '*', '?', '#', 'x'.repeat(300),
  'manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', UPSTREAM,
);
const segment = fc.array(piece, { minLength: 1, maxLength: 4 }).map((xs) => xs.join(''));
const pathOf = fc.array(segment, { minLength: 1, maxLength: 6 }).map((xs) => xs.join('/'));
const headerValue = fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));

/** http.request refuses unescaped spaces and non-ASCII; escape just those. */
function sendable(path: string): string {
  return path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)).replace(/#/g, '%23');
}

/**
 * Hostile requests against the real proxy process (real registry upstream): property-based names,
 * references, digests, headers and query strings; Range headers; slowloris headers. Nothing may produce
 * a 5xx or crash the proxy, touch a file outside its store, or stop it serving everyone else.
 */
describe.skipIf(skip)('hostile requests', () => {
  let root: string;
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;
  let sentinel: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hostile-'));
    await mkdir(join(root, 'registry'));
    await mkdir(join(root, 'proxy'));
    sentinel = join(root, 'proxy', 'sentinel.txt');
    writeFileSync(sentinel, 'must stay untouched');
    registry = await startRegistry({ dir: join(root, 'registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 1, layerSize: 200 * 1024 });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: join(root, 'proxy'),
      extra: { server: { headersTimeout: '2s' }, log: { level: 'error' } },
    });
    const m = await raw(proxy.port, `/v2/org/app/manifests/1`, { accept: ACCEPT });
    expect(m.status).toBe(200);
    expect((await raw(proxy.port, `/v2/org/app/blobs/${image.layers[0]!.digest}`)).status).toBe(200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function stillServing(): Promise<void> {
    const ok = await raw(proxy.port, `/v2/org/app/manifests/${image.digest}`, { accept: ACCEPT });
    expect(ok.status).toBe(200);
  }

  it('answers arbitrary names, references, digests and query strings without a 5xx', async () => {
    const before = snapshot(root, [join(root, 'proxy', 'store'), join(root, 'proxy', 'portcullis.db'), join(root, 'registry')]);
    await fc.assert(
      fc.asyncProperty(
        pathOf,
        fc.constantFrom('manifests', 'blobs', 'tags/list', 'referrers', ''),
        segment,
        fc.option(fc.record({ ns: headerValue, n: headerValue, last: headerValue, artifactType: headerValue }), { nil: undefined }),
        async (name, kind, ref, query) => {
          const q = query ? `?${new URLSearchParams(query as Record<string, string>).toString()}` : '';
          const path = sendable(`/v2/${name}${kind ? `/${kind}` : ''}${kind === 'tags/list' || !kind ? '' : `/${ref}`}${q}`);
          const a = await raw(proxy.port, path, { accept: ACCEPT });
          expect(a.status, `${path} → ${a.status} ${a.body.toString('utf8', 0, 300)}`).toBeLessThan(500);
          if (a.status >= 400) expect(ociCode(a), path).toMatch(/^[A-Z_]+$/);
        },
      ),
      { numRuns: 300 },
    );
    const after = snapshot(root, [join(root, 'proxy', 'store'), join(root, 'proxy', 'portcullis.db'), join(root, 'registry')]);
    expect(after).toEqual(before);
    const blobNames = readdirSync(join(root, 'proxy', 'store', 'blobs', 'sha256')).flatMap((p) =>
      readdirSync(join(root, 'proxy', 'store', 'blobs', 'sha256', p)),
    );
    expect(blobNames.every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
    await stillServing();
  });

  it('answers arbitrary headers without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ accept: headerValue, range: headerValue, 'x-request-id': headerValue, authorization: headerValue, 'if-none-match': headerValue }),
        fc.boolean(),
        async (headers, blob) => {
          const path = blob ? `/v2/org/app/blobs/${image.layers[0]!.digest}` : `/v2/org/app/manifests/${image.digest}`;
          const a = await raw(proxy.port, path, headers);
          expect(a.status, `${JSON.stringify(headers)} → ${a.status} ${a.body.toString('utf8', 0, 200)}`).toBeLessThan(500);
          const rid = a.headers['x-request-id'];
          expect(typeof rid === 'string' && /^[\w.-]{1,64}$/.test(rid)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
    await stillServing();
  });

  it('serves multiple, reversed and out-of-range Range headers correctly', async () => {
    const layer = image.layers[0]!;
    const size = layer.size;
    const get = (range: string) => raw(proxy.port, `/v2/org/app/blobs/${layer.digest}`, { range });

    const multiple = await get('bytes=0-1,5-6');
    expect(multiple.status).toBe(200);
    expect(multiple.body.equals(layer.bytes)).toBe(true);
    const reversed = await get('bytes=10-5');
    expect(reversed.status).toBe(200);
    expect(reversed.body.equals(layer.bytes)).toBe(true);
    const past = await get(`bytes=${size}-`);
    expect(past.status).toBe(416);
    expect(ociCode(past)).toBe('RANGE_INVALID');
    expect(past.headers['content-range']).toBe(`bytes */${size}`);
    const suffix = await get('bytes=-5');
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(layer.bytes.subarray(size - 5))).toBe(true);

    await fc.assert(
      fc.asyncProperty(fc.nat({ max: size + 10 }), fc.nat({ max: size + 10 }), async (a, b) => {
        const r = await get(`bytes=${a}-${b}`);
        if (b < a) {
          expect(r.status).toBe(200);
        } else if (a >= size) {
          expect(r.status).toBe(416);
        } else {
          expect(r.status).toBe(206);
          expect(r.body.equals(layer.bytes.subarray(a, Math.min(b, size - 1) + 1))).toBe(true);
          expect(r.headers['content-range']).toBe(`bytes ${a}-${Math.min(b, size - 1)}/${size}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('cuts off clients that send headers one byte at a time and keeps serving others', async () => {
    const sockets = Array.from({ length: 20 }, () => {
      const s = connect(proxy.port, '127.0.0.1');
      s.on('error', () => {});
      const closed = new Promise<number>((resolve) => s.on('close', () => resolve(Date.now())));
      s.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
      const timer = setInterval(() => s.writable && s.write('X'), 500);
      closed.finally(() => clearInterval(timer));
      return { s, closed };
    });
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      await stillServing();
      await new Promise((r) => setTimeout(r, 200));
    }
    const closedAt = await Promise.all(sockets.map((x) => x.closed));
    for (const t of closedAt) expect(t - started).toBeLessThan(5_000);
    await stillServing();
  });
});

interface RawExchange {
  /** The status line and headers the proxy sent, if any. */
  head: string;
  /** When the socket closed, relative to when it was opened. */
  closedAfterMs: number;
}

/**
 * A raw client that sends a request head and then its body one byte at a time, as slowly as an attacker
 * would, until the proxy closes the connection (or `giveUpMs` passes: then the socket is destroyed).
 */
function slowBody(port: number, head: string, opts: { from?: string; giveUpMs: number; everyMs?: number }): Promise<RawExchange> {
  return new Promise((resolve) => {
    const opened = Date.now();
    const s = connect({ port, host: '127.0.0.1', localAddress: opts.from });
    let received = '';
    s.on('error', () => {});
    s.on('data', (c: Buffer) => (received += c.toString('latin1')));
    s.on('connect', () => s.write(head));
    const drip = setInterval(() => s.writable && s.write('x'), opts.everyMs ?? 250);
    const giveUp = setTimeout(() => s.destroy(), opts.giveUpMs);
    s.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ head: received.split('\r\n\r\n')[0] ?? '', closedAfterMs: Date.now() - opened });
    });
  });
}

/**
 * Slow request bodies: many connections from one address, each sending a large body a byte at a time,
 * must neither hold the proxy's connections nor keep anyone else from pulling.
 */
describe.skipIf(skip)('slow request bodies', () => {
  const ADMIN = 'slow-body-admin-token-51f0';
  const AUDITOR = 'slow-body-auditor-token-77c2';
  const PER_CLIENT = 30;
  let root: string;
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;
  let big: PushedImage;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'slow-bodies-'));
    await mkdir(join(root, 'registry'));
    registry = await startRegistry({ dir: join(root, 'registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 1, layerSize: 64 * 1024 });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: root,
      extra: {
        server: { workers: 1, headersTimeout: '2s', requestTimeout: '8s', maxConnectionsPerClient: PER_CLIENT },
        auth: { pull: 'anonymous', tokens: [
          { name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') },
          { name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(AUDITOR).digest('hex') },
        ] },
        log: { level: 'error' },
      },
    });
    expect((await raw(proxy.port, `/v2/org/app/manifests/1`, { accept: ACCEPT })).status).toBe(200);
    big = await pushImage(registry.url, 'org/big', '1', { layers: 1, layerSize: 24 * 1024 * 1024 });
    expect((await raw(proxy.port, `/v2/org/big/manifests/1`, { accept: ACCEPT })).status).toBe(200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('lets a download run longer than the request timeout: only the request is bounded', async () => {
    const layer = big.layers[0]!;
    const s = connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    s.write(`GET /v2/org/big/blobs/${layer.digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    // A slow reader: nothing is read for longer than the request timeout (8 s), with most of the blob unsent.
    s.pause();
    await new Promise((r) => setTimeout(r, 9_000));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((resolve) => s.on('close', resolve).resume());
    const all = Buffer.concat(chunks);
    const split = all.indexOf('\r\n\r\n');
    expect(all.subarray(0, split).toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
    expect(all.subarray(split + 4).equals(layer.bytes)).toBe(true);
  });

  const policyPut = (auth?: string, length = 1_000_000) =>
    `PUT /api/v1/policy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${auth ? `Authorization: Bearer ${auth}\r\n` : ''}Content-Length: ${length}\r\n\r\n{`;

  /** Runs `attack` while checking, again and again from another address, that health and pulls work. */
  async function whileServing<T>(attack: Promise<T>): Promise<T> {
    let done = false;
    const over = attack.finally(() => (done = true));
    let served = 0;
    do {
      const [health, pull] = await Promise.all([raw(proxy.port, '/healthz'), raw(proxy.port, `/v2/org/app/blobs/${image.layers[0]!.digest}`)]);
      expect(health.status).toBe(200);
      expect(pull.status).toBe(200);
      expect(pull.body.equals(image.layers[0]!.bytes)).toBe(true);
      served++;
    } while (!done);
    expect(served).toBeGreaterThan(0);
    return over;
  }

  const statusOf = (e: RawExchange) => /^HTTP\/1\.1 (\d{3})/.exec(e.head)?.[1] ?? 'none';

  it('holds one address to its connection limit and keeps serving others', async () => {
    // From another loopback address, as another machine would: twice the limit at once, each holding its
    // connection by sending its headers a byte at a time.
    const exchanges = await whileServing(Promise.all(Array.from({ length: PER_CLIENT * 2 }, () =>
      slowBody(proxy.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', { from: '127.0.0.2', giveUpMs: 20_000 }))));
    const statuses = exchanges.map(statusOf);
    const refused = exchanges.filter((e) => statusOf(e) === '503');
    // The first PER_CLIENT are always let in; the rest find the limit reached unless places came free.
    expect(refused.length, statuses.join(' ')).toBeGreaterThan(0);
    expect(exchanges.length - refused.length).toBeGreaterThanOrEqual(PER_CLIENT);
    for (const e of refused) {
      expect(e.head).toMatch(/\r\nconnection: close/i);
      expect(e.head).toMatch(/\r\nretry-after: \d+/i);
    }
    // The held ones are cut off by the headers timeout (2 s here), long before the client would give up.
    for (const e of exchanges) expect(e.closedAfterMs).toBeLessThan(10_000);
  });

  it('answers unauthenticated slow bodies 401 at once and closes their connections', async () => {
    const exchanges = await whileServing(Promise.all(Array.from({ length: PER_CLIENT * 3 }, () =>
      slowBody(proxy.port, policyPut(), { from: '127.0.0.2', giveUpMs: 20_000 }))));
    const statuses = exchanges.map(statusOf);
    // 503 when the limit was reached at that moment; never held waiting for the body.
    expect(statuses.every((s) => s === '401' || s === '503'), statuses.join(' ')).toBe(true);
    expect(statuses).toContain('401');
    for (const e of exchanges) {
      expect(e.head).toMatch(/\r\nconnection: close/i);
      // The requestTimeout (8 s) is not what ends them: the proxy closes at once after answering.
      expect(e.closedAfterMs).toBeLessThan(5_000);
    }
  });

  it('refuses a caller without the role before reading the body, and closes the connection', async () => {
    const forbidden = await slowBody(proxy.port, policyPut(AUDITOR), { giveUpMs: 20_000 });
    expect(forbidden.head).toMatch(/^HTTP\/1\.1 403/);
    expect(forbidden.head).toMatch(/\r\nconnection: close/i);
    expect(forbidden.closedAfterMs).toBeLessThan(5_000);
  });

  it('cuts off an authenticated body that does not arrive in time, and refuses one declared too large', async () => {
    const slow = await slowBody(proxy.port, policyPut(ADMIN, 5_000), { giveUpMs: 20_000, everyMs: 500 });
    expect(slow.head).toMatch(/^HTTP\/1\.1 408/);
    expect(slow.closedAfterMs).toBeLessThan(15_000);
    const large = await slowBody(proxy.port, policyPut(ADMIN, 2 * 1024 * 1024), { giveUpMs: 20_000 });
    expect(large.head).toMatch(/^HTTP\/1\.1 413/);
    expect(large.closedAfterMs).toBeLessThan(5_000);
    // A body the route has no use for is not waited for either.
    const healthBody = await slowBody(proxy.port, 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', { giveUpMs: 20_000 });
    expect(healthBody.head).toMatch(/^HTTP\/1\.1 \d{3}/);
    expect(healthBody.closedAfterMs).toBeLessThan(5_000);
  });
});
