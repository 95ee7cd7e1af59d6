import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCopiedBlob, readCopiedImage, skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { bodyBytes, OCI_MANIFEST, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * Pull-through against a real distribution registry with skopeo as the client: byte-identical content,
 * cache hits, serving while the upstream is down, and one upstream fetch for concurrent requests.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

describe.skipIf(skip)('pull-through with skopeo', () => {
  let registry: Registry;
  let proxy: Proxy;
  let app: PushedImage;
  const ref = (suffix: string): string => `${proxy.host}/${UPSTREAM}/org/app${suffix}`;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    app = await pushImage(registry.url, 'org/app', '1', { layers: 3, layerSize: 64 * 1024 });
    // A one-second tag TTL makes the offline test exercise revalidation failing, not a fresh cache entry.
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url, tagTtl: '1s' }],
      dataDir: await tempDir('proxy'),
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  async function copyAndCheck(source: string): Promise<void> {
    const dest = await tempDir('copy');
    await skopeoCopy(source, dest);
    const copied = await readCopiedImage(dest);
    expect(copied.manifestDigest).toBe(app.digest);
    expect(copied.manifestBytes.equals(app.manifest)).toBe(true);
    expect(copied.manifest.config.digest).toBe(app.config.digest);
    expect(copied.manifest.layers.map((l) => l.digest)).toEqual(app.layers.map((l) => l.digest));
    for (const layer of app.layers) {
      expect((await readCopiedBlob(dest, layer.digest)).equals(layer.bytes)).toBe(true);
    }
    expect((await readCopiedBlob(dest, app.config.digest)).equals(app.config.bytes)).toBe(true);
  }

  it('copies an image through the proxy with the digests it was pushed with', async () => {
    await copyAndCheck(ref(':1'));
  });

  it('serves a second pull from its cache without fetching any blob upstream again', async () => {
    await copyAndCheck(ref(':1'));
    for (const blob of [app.config, ...app.layers]) {
      expect(await registry.countRequests(`/blobs/${blob.digest}`, 'GET'), blob.digest).toBe(1);
    }
  });

  it('keeps serving by tag and by digest while the upstream is down', async () => {
    await registry.stop();
    try {
      await new Promise((r) => setTimeout(r, 1_200)); // let the tag TTL lapse
      await copyAndCheck(ref(':1'));
      await copyAndCheck(ref(`@${app.digest}`));
      // Control: something never cached really is unreachable now.
      const uncached = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/never/manifests/1`);
      await uncached.arrayBuffer();
      expect(uncached.status).toBeGreaterThanOrEqual(500);
    } finally {
      await registry.start();
    }
  });

  it('keeps its cache across a restart', async () => {
    await registry.stop();
    try {
      await proxy.restart();
      await copyAndCheck(ref(`@${app.digest}`));
    } finally {
      await registry.start();
    }
  });

  it('passes Docker v2 manifests through unconverted', async () => {
    const docker = await pushImage(registry.url, 'org/docker', '1', { layers: 2, mediaTypeStyle: 'docker' });
    const dest = await tempDir('copy');
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/org/docker:1`, dest, { format: 'dir' });
    const copied = await readCopiedImage(dest, 'dir');
    expect(copied.manifestDigest).toBe(docker.digest);
    expect(copied.manifestBytes.equals(docker.manifest)).toBe(true);
    for (const layer of docker.layers) {
      expect((await readCopiedBlob(dest, layer.digest, 'dir')).equals(layer.bytes)).toBe(true);
    }
  });

  it('makes exactly one upstream GET for sixteen concurrent requests of one uncached blob', async () => {
    const big = await pushImage(registry.url, 'org/big', '1', { layers: 1, layerSize: 8 * 1024 * 1024 });
    const layer = big.layers[0]!;
    const manifest = await fetch(`${proxy.url}/v2/${UPSTREAM}/org/big/manifests/1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(manifest.status, await manifest.clone().text()).toBe(200);
    expect(sha256(await bodyBytes(manifest))).toBe(big.digest);

    const url = `${proxy.url}/v2/${UPSTREAM}/org/big/blobs/${layer.digest}`;
    const responses = await Promise.all(Array.from({ length: 16 }, () => fetch(url)));
    for (const res of responses) {
      expect(res.status).toBe(200);
      const bytes = await bodyBytes(res);
      expect(bytes.length).toBe(layer.size);
      expect(sha256(bytes)).toBe(layer.digest);
    }
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
  });
});
