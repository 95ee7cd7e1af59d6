import fc from 'fast-check';
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
