import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { cosignTag, createSignatureReferrer, createTestPki, generateKey, MT, type OciArtifact, type TestKey } from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * A subject with a long list of referrers (anyone who can push may add them): the walk stops at the
 * `trust.referrers` bounds, a signature within them is found, and a denial says which bound was hit rather
 * than that the image is unsigned. The registry has no referrers API: the lists are tag-schema indexes
 * (`sha256-<hex>`), filled with artifacts that are no signature.
 */
const skip = !haveTools(['docker-registry']);

describe.skipIf(skip)('referrer walk bounds', () => {
  let registry: Registry;
  let defaults: Proxy;
  let tight: Proxy;
  let acme: TestKey;
  const images: Record<string, PushedImage> = {};
  const POLICIES = [{ name: 'signed', match: [`${UPSTREAM}/bounds/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] } }];

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  /**
   * An image whose referrers list holds `listed` descriptors, the valid signature at `signedAt`; the others
   * are artifacts that are no signature (each still costs the walk a fetch). `padding` bytes of annotation
   * per descriptor make the list itself large.
   */
  async function imageWithReferrers(repo: string, listed: number, signedAt: number, padding = 0): Promise<void> {
    const image = await pushImage(registry.url, repo, '1');
    images[repo] = image;
    const signature = createSignatureReferrer({ subject: { mediaType: image.mediaType, digest: image.digest, size: image.size }, signer: acme });
    await push(signature, repo);
    const empty = await pushBlob(registry.url, repo, Buffer.from('{}'));
    const descriptors = [];
    for (let i = 0; i < listed; i++) {
      if (i === signedAt) {
        descriptors.push(signature.descriptor);
        continue;
      }
      const other = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: MT.bundleV03,
        config: { mediaType: MT.ociEmpty, digest: empty, size: 2 },
        layers: [],
        annotations: { n: String(i) },
      }));
      const digest = await pushManifest(registry.url, repo, sha256(other), other, MT.ociManifest);
      descriptors.push({ mediaType: MT.ociManifest, digest, size: other.length, artifactType: MT.bundleV03, ...(padding ? { annotations: { pad: 'x'.repeat(padding) } } : {}) });
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: descriptors }));
    await pushManifest(registry.url, repo, cosignTag(image.digest), index, MT.ociIndex);
  }

  const pull = (proxy: Proxy, repo: string) =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    acme = generateKey('ecdsa-p256');
    const pki = createTestPki();
    await imageWithReferrers('bounds/early', 100, 5);
    await imageWithReferrers('bounds/late', 100, 80);
    await imageWithReferrers('bounds/huge', 70, 3, 1024);
    const start = async (referrers?: Record<string, unknown>) => {
      const dataDir = await tempDir('proxy');
      const trustedRoot = await pki.writeTrustedRoot(dataDir);
      return startProxy({
        upstreams: [{ name: UPSTREAM, url: registry.url }],
        policies: POLICIES,
        dataDir,
        extra: { server: { workers: 1 }, trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem }, ...(referrers ? { referrers } : {}) } },
      });
    };
    defaults = await start();
    tight = await start({ maxCount: 500, maxBytes: '64KiB' });
  });

  afterAll(async () => {
    await defaults?.stop();
    await tight?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('finds a signature among the first 64 referrers of 100, asking the upstream for no more than those', async () => {
    const res = await pull(defaults, 'bounds/early');
    expect(res.status, await res.clone().text()).toBe(200);
    await res.arrayBuffer();
    const asked = await registry.countRequests('/v2/bounds/early/manifests/sha256:', 'GET');
    expect(asked).toBeLessThanOrEqual(64 + 2);
  });

  it('says the count bound was hit, not that the image is unsigned, when the signature lies beyond it', async () => {
    const error = await expectOciError(await pull(defaults, 'bounds/late'), 403, 'DENIED');
    expect(error.message).toMatch(
      /referrers not all looked at: 100 referrers listed, only 64 looked at \(trust\.referrers\.maxCount\); no signature by key "acme-release" among those looked at/,
    );
    expect(await registry.countRequests('/v2/bounds/late/manifests/sha256:', 'GET')).toBeLessThanOrEqual(64 + 2);
  });

  it('takes its bounds from trust.referrers: a higher count finds the late signature, a byte bound refuses the long list and says so', async () => {
    const late = await pull(tight, 'bounds/late');
    expect(late.status, await late.clone().text()).toBe(200);
    await late.arrayBuffer();

    const error = await expectOciError(await pull(tight, 'bounds/huge'), 403, 'DENIED');
    expect(error.message).toMatch(/referrers not all looked at: stopped before referrers list page 1: 65536 bytes read in all \(trust\.referrers\.maxBytes\)/);
    // The same image under the default bounds is served: its signature is third in the list.
    const served = await pull(defaults, 'bounds/huge');
    expect(served.status, await served.clone().text()).toBe(200);
    await served.arrayBuffer();
  });
});
