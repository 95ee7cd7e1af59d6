import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCopiedBlob, readCopiedImage, skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveS3, S3_KEY_ENV, S3_SECRET_ENV, startS3, type S3Store } from '../helpers/s3.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, bodyBytes, expectOciError, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

const MiB = 1024 * 1024;
const skip = !haveTools(['docker-registry', 'skopeo']) || !haveS3();

/**
 * A proxy whose blobs live in an S3-compatible bucket, pulled through by skopeo: byte-identical content, blobs
 * under their digest keys and nothing else, one upstream fetch however many clients, the cache serving while the
 * upstream is down, and failing closed while the bucket is down.
 */
describe.skipIf(skip)('pull-through on an S3 store', () => {
  let s3: S3Store;
  let registry: Registry;
  let proxy: Proxy;
  let app: PushedImage;
  let prefix: string;

  beforeAll(async () => {
    s3 = await startS3();
    registry = await startRegistry({ dir: await tempDir('registry') });
    app = await pushImage(registry.url, 'org/app', '1', { layers: 2, layerSize: 3 * MiB });
    const bucket = s3.section();
    prefix = bucket.prefix;
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: await tempDir('proxy'),
      env: s3.env,
      extra: { storage: { path: './spool', s3: bucket } },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await s3?.destroy();
    await removeTempDirs();
  });

  async function copyAndCheck(): Promise<void> {
    const dest = await tempDir('copy');
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/org/app:1`, dest);
    const copied = await readCopiedImage(dest);
    expect(copied.manifestBytes.equals(app.manifest)).toBe(true);
    for (const blob of [app.config, ...app.layers]) expect((await readCopiedBlob(dest, blob.digest)).equals(blob.bytes)).toBe(true);
  }
  const blobKey = (digest: string) => `${prefix}blobs/sha256/${digest.slice('sha256:'.length)}`;
  const getBlob = (repo: string, digest: string) => fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/blobs/${digest}`);

  it('copies an image; its blobs land in the bucket under their digests, and no partial download is left', async () => {
    await copyAndCheck();
    await waitUntil('layers uploaded', async () => {
      const keys = await s3.keys(prefix);
      return app.layers.every((l) => keys.includes(blobKey(l.digest)));
    }, 30_000);
    for (const key of await s3.keys(prefix)) expect(key).toMatch(new RegExp(`^${prefix}blobs/sha256/[0-9a-f]{64}$`));
    expect(await readdir(join(proxy.dataDir, 'spool', 'tmp'))).toEqual([]);
  });

  it('serves a second copy from the bucket without asking the upstream again', async () => {
    await copyAndCheck();
    for (const blob of [app.config, ...app.layers]) expect(await registry.countRequests(`/blobs/${blob.digest}`, 'GET'), blob.digest).toBe(1);
  });

  it('gives sixteen clients of one uncached blob the same bytes from one upstream GET, ranges included', async () => {
    const fan = await pushImage(registry.url, 'org/fan', '1', { layers: 1, layerSize: 12 * MiB });
    const m = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/fan/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(m.status).toBe(200);
    const layer = fan.layers[0]!;
    const bodies = await Promise.all(Array.from({ length: 16 }, async () => bodyBytes(await getBlob('org/fan', layer.digest))));
    for (const b of bodies) expect(sha256(b)).toBe(layer.digest);
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
    await waitUntil('uploaded', async () => (await s3.keys(blobKey(layer.digest))).length === 1, 30_000);
    const part = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/fan/blobs/${layer.digest}`, { headers: { range: 'bytes=5000000-5000099' } });
    expect(part.status).toBe(206);
    expect((await bodyBytes(part)).equals(layer.bytes.subarray(5_000_000, 5_000_100))).toBe(true);
  });

  it('serves cached images from the bucket while the upstream is down', async () => {
    await registry.stop();
    try {
      await copyAndCheck();
    } finally {
      await registry.start();
    }
  });

  it.skipIf(process.env.PORTCULLIS_TEST_S3_ENDPOINT !== undefined)('fails closed while the bucket is down, says so on /readyz, and recovers by itself', async () => {
    const late = await pushImage(registry.url, 'org/late', '1', { layers: 1, layerSize: 2 * MiB });
    const m = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/late/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(m.status).toBe(200);
    await s3.stop();
    try {
      await waitUntil('readyz fails', async () => (await fetch(`${proxy.url}/readyz`)).status === 503, 20_000);
      const ready = (await (await fetch(`${proxy.url}/readyz`)).json()) as { problems: string[] };
      expect(ready.problems.join(' ')).toMatch(/store: .*endpoint cannot be reached/);
      await expectOciError(await getBlob('org/late', late.layers[0]!.digest), 503, 'UNAVAILABLE');
      await expectOciError(await getBlob('org/app', app.layers[0]!.digest), 503, 'UNAVAILABLE');
      expect(await registry.countRequests(`/blobs/${late.layers[0]!.digest}`, 'GET')).toBe(0);
    } finally {
      await s3.start();
    }
    await waitUntil('readyz again', async () => (await fetch(`${proxy.url}/readyz`)).status === 200, 20_000);
    expect(sha256(await bodyBytes(await getBlob('org/late', late.layers[0]!.digest)))).toBe(late.layers[0]!.digest);
    expect(sha256(await bodyBytes(await getBlob('org/app', app.layers[0]!.digest)))).toBe(app.layers[0]!.digest);
    // s3rver's secret is its key id, which may be named; a real store's secret never appears.
    const secret = s3.env[S3_SECRET_ENV]!;
    if (secret !== s3.env[S3_KEY_ENV]) expect(proxy.logs().join('\n')).not.toContain(secret);
  }, 120_000);
});
