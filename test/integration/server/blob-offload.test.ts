import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../../helpers/audit.js';
import { startProxy, type Proxy } from '../../helpers/proxy.js';
import { pushImage, startRegistry, tarOf, type PushedImage, type Registry } from '../../helpers/registry.js';
import { haveTools, waitUntil } from '../../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from '../../e2e/support.js';

/**
 * The proxy's own answer with storage.offload.xAccelRedirect set, seen without nginx: X-Accel-Redirect (and no
 * body) only for a GET of a cached, allowed blob over 1 MiB; everything else is answered as without offload.
 */
const PREFIX = '/_portcullis/store/';
const MiB = 1024 * 1024;

describe.skipIf(!haveTools(['docker-registry']))('blob offload answers', () => {
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;
  let large: { digest: string; bytes: Buffer };
  const blobUrl = (repo: string, digest: string) => `${proxy.url}/v2/${UPSTREAM}/${repo}/blobs/${digest}`;
  const manifest = (repo: string) =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const layer = gzipSync(tarOf('big.bin', randomBytes(2 * MiB)));
    image = await pushImage(registry.url, 'org/app', '1', { layers: [layer] });
    await pushImage(registry.url, 'blocked/app', '1', { layers: [layer] });
    large = image.layers[0]!;
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [
        { name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' },
        { name: 'open', match: ['**'], mode: 'allow' },
      ],
      dataDir: await tempDir('proxy'),
      // The test's client plays the nginx in front.
      extra: { storage: { path: './store', offload: { xAccelRedirect: PREFIX } }, server: { trustedProxies: ['127.0.0.1'] } },
    });
    expect((await manifest('org/app')).status).toBe(200);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('streams an uncached blob itself, then hands the cached file to nginx with its own headers', async () => {
    const cold = await fetch(blobUrl('org/app', large.digest));
    expect(cold.headers.get('x-accel-redirect')).toBeNull();
    expect(Buffer.from(await cold.arrayBuffer()).equals(large.bytes)).toBe(true);
    const hex = large.digest.slice('sha256:'.length);
    const uri = `${PREFIX}blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    // The download is committed to the store (fsync, rename) just after its last byte went out.
    await waitUntil('the blob in the store', async () => existsSync(join(proxy.dataDir, 'store', uri.slice(PREFIX.length))));

    const warm = await fetch(blobUrl('org/app', large.digest));
    expect(warm.status).toBe(200);
    expect(warm.headers.get('x-accel-redirect')).toBe(uri);
    expect(warm.headers.get('docker-content-digest')).toBe(large.digest);
    expect(warm.headers.get('content-type')).toBe('application/octet-stream');
    expect(warm.headers.get('etag')).toBe(`"${large.digest}"`);
    // Length and ranges are nginx's to state, for the file it sends.
    expect(warm.headers.get('accept-ranges')).toBeNull();
    expect(warm.headers.get('content-length')).toBe('0');
    expect((await warm.arrayBuffer()).byteLength).toBe(0);
    // The path names the committed file under storage.path, which holds exactly the blob.
    expect((await readFile(join(proxy.dataDir, 'store', uri.slice(PREFIX.length)))).equals(large.bytes)).toBe(true);
  });

  it('leaves a range to nginx, but answers an unsatisfiable one itself', async () => {
    const ranged = await fetch(blobUrl('org/app', large.digest), { headers: { range: 'bytes=10-19' } });
    expect(ranged.headers.get('x-accel-redirect')).not.toBeNull();
    expect(ranged.headers.get('content-range')).toBeNull();
    await ranged.arrayBuffer();
    const beyond = await fetch(blobUrl('org/app', large.digest), { headers: { range: `bytes=${large.bytes.length + 5}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('x-accel-redirect')).toBeNull();
    await beyond.arrayBuffer();
  });

  it('answers HEAD, small blobs, manifests, tag lists, referrers and a retry that forbids offload itself', async () => {
    const head = await fetch(blobUrl('org/app', large.digest), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-accel-redirect')).toBeNull();
    expect(head.headers.get('content-length')).toBe(String(large.bytes.length));

    for (let i = 0; i < 2; i++) {
      const config = await fetch(blobUrl('org/app', image.config.digest)); // cached after the first read
      expect(config.headers.get('x-accel-redirect')).toBeNull();
      expect(Buffer.from(await config.arrayBuffer()).equals(image.config.bytes)).toBe(true);
    }

    const m = await manifest('org/app');
    expect(m.headers.get('x-accel-redirect')).toBeNull();
    expect(Buffer.from(await m.arrayBuffer()).equals(image.manifest)).toBe(true);

    for (const path of ['tags/list', `referrers/${image.digest}`]) {
      const listing = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/app/${path}`);
      expect(listing.status, path).toBe(200);
      expect(listing.headers.get('x-accel-redirect'), path).toBeNull();
      expect(((await listing.json()) as object), path).toBeTruthy();
    }

    const retry = await fetch(blobUrl('org/app', large.digest), { headers: { 'x-portcullis-no-offload': '1' } });
    expect(retry.headers.get('x-accel-redirect')).toBeNull();
    expect(Buffer.from(await retry.arrayBuffer()).equals(large.bytes)).toBe(true);
  });

  it('sends the bytes itself to a client that reached it directly, not through the trusted nginx', async () => {
    const direct = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
      dataDir: await tempDir('direct'),
      extra: { storage: { path: './store', offload: { xAccelRedirect: PREFIX } }, server: { trustedProxies: ['192.0.2.10'] } },
    });
    try {
      const url = `${direct.url}/v2/${UPSTREAM}/org/app/blobs/${large.digest}`;
      expect((await fetch(`${direct.url}/v2/${UPSTREAM}/org/app/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).status).toBe(200);
      expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(large.bytes)).toBe(true);
      const hex = large.digest.slice('sha256:'.length);
      await waitUntil('the blob in the store', async () => existsSync(join(direct.dataDir, 'store', 'blobs', 'sha256', hex.slice(0, 2), hex)));
      const warm = await fetch(url);
      expect(warm.headers.get('x-accel-redirect')).toBeNull();
      expect(Buffer.from(await warm.arrayBuffer()).equals(large.bytes)).toBe(true);
    } finally {
      await direct.stop();
    }
  });

  it('never hands off a denied blob, even one cached for another repository', async () => {
    const res = await fetch(blobUrl('blocked/app', large.digest));
    expect(res.status).toBe(403);
    expect(res.headers.get('x-accel-redirect')).toBeNull();
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('DENIED');
  });

  it('audits a handed-off read as the blob it serves', async () => {
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.blob' AND digest = ? AND repository = ?", large.digest, `${UPSTREAM}/org/app`);
    // cold, warm (handed off), range (handed off), 416, HEAD, the no-offload retry
    expect(rows.map((r) => [r.status, r.cache_hit, r.bytes])).toEqual([
      [200, 0, large.bytes.length],
      [200, 1, large.bytes.length],
      [206, 1, 10],
      [416, 1, 0],
      [200, 1, 0],
      [200, 1, large.bytes.length],
    ]);
  });
});
