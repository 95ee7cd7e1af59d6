import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { pushImage, startRegistry, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { haveS3, startS3, type S3Store } from '../../helpers/s3.js';
import { getBlob, getManifest, isCached as isFileCached, UPSTREAM, waitFor } from './support.js';

const MiB = 1024 * 1024;
const skip = !haveTools(['docker-registry']);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The cache grows past storage.maxSize (real registry, real proxy): least-recently-used blobs that no
 * recently pulled manifest references are evicted, and a read already in progress is not broken.
 */
const kinds = (['folder', 's3'] as const).filter((k) => k === 'folder' || haveS3());

describe.skipIf(skip).each(kinds)('eviction past storage.maxSize (%s store)', (kind) => {
  let root: string;
  let registry: Registry;
  let s3: S3Store | undefined;
  const proxies: Proxy[] = [];
  const prefixes = new Map<Proxy, string>();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'faults-evict-'));
    await mkdir(join(root, 'registry'));
    registry = await startRegistry({ dir: join(root, 'registry') });
    if (kind === 's3') s3 = await startS3();
  });

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await registry?.stop();
    await s3?.destroy();
    await rm(root, { recursive: true, force: true });
  });

  async function isCached(p: Proxy, digest: string): Promise<boolean> {
    if (!s3) return isFileCached(p.dataDir, digest);
    return (await s3.keys(`${prefixes.get(p)}blobs/sha256/${digest.split(':')[1]}`)).length === 1;
  }

  async function proxyWith(maxSize: string): Promise<Proxy> {
    const dataDir = join(root, `proxy-${kind}-${proxies.length}`);
    await mkdir(dataDir);
    const bucket = s3?.section();
    const p = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir,
      env: s3?.env,
      extra: { storage: { path: './store', maxSize, protectRecent: '1s', ...(bucket ? { s3: bucket } : {}) }, log: { level: 'warn' } },
    });
    proxies.push(p);
    if (bucket) prefixes.set(p, bucket.prefix);
    return p;
  }

  async function pull(p: Proxy, repo: string, digests: string[]): Promise<void> {
    expect((await getManifest(p.url, repo, '1')).status).toBe(200);
    for (const d of digests) {
      const got = await getBlob(p.url, repo, d);
      expect(got.bytes, `${got.status} ${got.body ?? String(got.error)}`).toBeDefined();
    }
  }

  it('evicts the least recently used blob and keeps recently used ones', async () => {
    const p = await proxyWith('10MiB');
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((n) => pushImage(registry.url, `org/${n}`, '1', { layers: [randomBytes(4 * MiB)] })),
    );
    // Each blob is cached before the next step (on object storage the upload follows the client's pull).
    await pull(p, 'org/a', [a!.layers[0]!.digest]);
    await waitFor(() => isCached(p, a!.layers[0]!.digest));
    await pause(50);
    await pull(p, 'org/b', [b!.layers[0]!.digest]);
    await waitFor(() => isCached(p, b!.layers[0]!.digest));
    await pause(50);
    expect((await getBlob(p.url, 'org/a', a!.layers[0]!.digest)).bytes).toBeDefined(); // a is used again
    await pause(1_100); // both leave the protection window
    await pull(p, 'org/c', [c!.layers[0]!.digest]);

    await waitFor(async () => !(await isCached(p, b!.layers[0]!.digest)));
    expect(await isCached(p, a!.layers[0]!.digest)).toBe(true);
    expect(await isCached(p, c!.layers[0]!.digest)).toBe(true);

    // The evicted blob is fetched again on demand.
    const again = await getBlob(p.url, 'org/b', b!.layers[0]!.digest);
    expect(again.bytes?.equals(b!.layers[0]!.bytes)).toBe(true);
    expect(await registry.countRequests(`/blobs/${b!.layers[0]!.digest}`, 'GET')).toBe(2);
  });

  it('does not evict blobs of a manifest pulled within the protection window', async () => {
    const p = await proxyWith('6MiB');
    const [x, y] = await Promise.all(
      ['x', 'y'].map((n) => pushImage(registry.url, `org/${n}`, '1', { layers: [randomBytes(4 * MiB)] })),
    );
    await pull(p, 'org/x', [x!.layers[0]!.digest]);
    await pull(p, 'org/y', [y!.layers[0]!.digest]);
    await pause(300);
    expect(await isCached(p, x!.layers[0]!.digest)).toBe(true);
    expect(await isCached(p, y!.layers[0]!.digest)).toBe(true);
  });

  it('lets a read in progress finish when its blob is evicted under it', async () => {
    const p = await proxyWith('20MiB');
    const big = await pushImage(registry.url, 'org/slow', '1', { layers: [randomBytes(16 * MiB)] });
    const next = await pushImage(registry.url, 'org/next', '1', { layers: [randomBytes(16 * MiB)] });
    await pull(p, 'org/slow', [big.layers[0]!.digest]);
    await waitFor(() => isCached(p, big.layers[0]!.digest));

    const res = await fetch(`${p.url}/v2/org/slow/blobs/${big.layers[0]!.digest}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [(await reader.read()).value!];
    await pause(1_200);
    await pull(p, 'org/next', [next.layers[0]!.digest]);
    await waitFor(async () => !(await isCached(p, big.layers[0]!.digest)));

    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(big.layers[0]!.bytes.length);
    expect(got.equals(big.layers[0]!.bytes)).toBe(true);
  });
});
