import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ctrContentDigests,
  ctrImages,
  ctrPull,
  readCopiedImage,
  skopeoCopy,
  skopeoInspectRaw,
  startContainerd,
  writeHostsToml,
  type Containerd,
} from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, pushIndex, startRegistry, type PushedImage, type PushedIndex, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { createSignatureArtifact, generateKey } from '../helpers/pki/index.js';
import { pushBlob, pushManifest } from '../helpers/registry.js';
import { OCI_MANIFEST, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * containerd pulling through the proxy as a registry mirror (hosts.toml), which addresses the upstream with
 * `?ns=`. The default upstream is a dead address, so a pull only succeeds if `ns` picked the upstream; the
 * hosts.toml server is dead too, so containerd cannot succeed by falling back around the proxy.
 */
const skip = !haveTools(['docker-registry', 'skopeo', 'containerd', 'ctr']) || !haveRoot();

describe.skipIf(skip)('containerd mirror and multi-platform pulls', () => {
  let registry: Registry;
  let proxy: Proxy;
  let containerd: Containerd;
  let hostsDir: string;
  let app: PushedImage;
  let amd64: PushedImage;
  let arm64: PushedImage;
  let index: PushedIndex;
  let borrower: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    app = await pushImage(registry.url, 'org/app', '1', { layers: 3 });
    amd64 = await pushImage(registry.url, 'org/multi', 'amd64', { layers: 2 });
    arm64 = await pushImage(registry.url, 'org/multi', 'arm64', {
      layers: 2,
      platform: { os: 'linux', architecture: 'arm64' },
    });
    index = await pushIndex(registry.url, 'org/multi', '1', [amd64, arm64]);
    // A signed image, and an unsigned runnable image pushed beside it that names it as its OCI subject.
    const acme = generateKey('ecdsa-p256');
    const signed = await pushImage(registry.url, 'signed/app', '1');
    const sig = createSignatureArtifact({ digest: signed.digest, repository: `${UPSTREAM}/signed/app`, signer: acme });
    for (const b of sig.blobs) await pushBlob(registry.url, 'signed/app', b);
    await pushManifest(registry.url, 'signed/app', sig.tag!, sig.manifest, sig.mediaType);
    borrower = await pushImage(registry.url, 'signed/app', 'plain');
    const claimed = { ...JSON.parse(borrower.manifest.toString()), subject: { mediaType: signed.mediaType, digest: signed.digest, size: signed.size } };
    await pushManifest(registry.url, 'signed/app', 'evil', Buffer.from(JSON.stringify(claimed)), OCI_MANIFEST);
    proxy = await startProxy({
      policies: [
        { name: 'signed', match: [`${UPSTREAM}/signed/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme' }] } },
        { name: 'blocked', match: [`${UPSTREAM}/blocked/**`], mode: 'deny' },
        { name: 'open', match: [`${UPSTREAM}/org/**`], mode: 'allow' },
      ],
      extra: { trust: { keys: { acme: acme.publicKeyPem } } },
      upstreams: [
        { name: UPSTREAM, url: registry.url },
        { name: 'elsewhere.test', url: 'http://127.0.0.1:9' },
      ],
      defaultUpstream: 'elsewhere.test',
      dataDir: await tempDir('proxy'),
    });
    containerd = await startContainerd({ dir: await tempDir('containerd') });
    hostsDir = await writeHostsToml(join(containerd.dir, 'hosts.d'), UPSTREAM, proxy.url);
  });

  afterAll(async () => {
    await containerd?.stop();
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('ctr pulls and unpacks an image through the proxy as a mirror', async () => {
    await ctrPull(containerd.socket, `${UPSTREAM}/org/app:1`, { hostsDir });
    const image = (await ctrImages(containerd.socket)).find((i) => i.ref === `${UPSTREAM}/org/app:1`);
    expect(image?.digest).toBe(app.digest);
    const content = await ctrContentDigests(containerd.socket);
    for (const blob of [app.config, ...app.layers]) expect(content).toContain(blob.digest);
  });

  it('ctr pulls one platform of a multi-platform index', async () => {
    await ctrPull(containerd.socket, `${UPSTREAM}/org/multi:1`, { hostsDir, platform: 'linux/arm64' });
    const image = (await ctrImages(containerd.socket)).find((i) => i.ref === `${UPSTREAM}/org/multi:1`);
    expect(image?.digest).toBe(index.digest);
    const content = await ctrContentDigests(containerd.socket);
    expect(content).toContain(index.digest);
    expect(content).toContain(arm64.digest);
    for (const layer of arm64.layers) expect(content).toContain(layer.digest);
    for (const layer of amd64.layers) expect(content).not.toContain(layer.digest);
  });

  it('serves the index unchanged and lets skopeo choose the arm64 image', async () => {
    const raw = await skopeoInspectRaw(`${proxy.host}/${UPSTREAM}/org/multi:1`);
    expect(raw.equals(index.manifest)).toBe(true);
    const dest = await tempDir('copy');
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/org/multi:1`, dest, { overrideArch: 'arm64', overrideOs: 'linux' });
    const copied = await readCopiedImage(dest);
    expect(copied.manifestDigest).toBe(arm64.digest);
    expect(copied.manifest.layers.map((l) => l.digest)).toEqual(arm64.layers.map((l) => l.digest));
  });

  it('ctr is refused an unsigned image that names a signed one as its subject, and a blocked name without an upstream request', async () => {
    const evil = await ctrPull(containerd.socket, `${UPSTREAM}/signed/app:evil`, { hostsDir }).catch((e: Error) => e);
    expect(evil).toBeInstanceOf(Error);
    expect((evil as Error).message).toMatch(/403 Forbidden/);
    const content = await ctrContentDigests(containerd.socket);
    for (const layer of borrower.layers) expect(content).not.toContain(layer.digest);
    const blocked = await ctrPull(containerd.socket, `${UPSTREAM}/blocked/app:1`, { hostsDir }).catch((e: Error) => e);
    expect((blocked as Error).message).toMatch(/403 Forbidden/);
    expect(await registry.countRequests('/blocked/')).toBe(0);
  });
});
