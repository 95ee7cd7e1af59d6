import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSignatureArtifact, createSignatureReferrer, createTestPki, EMPTY_CONFIG, generateKey, referrersTagIndex, type OciArtifact, type TestKey,
} from '../helpers/pki/index.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, OCI_INDEX, OCI_MANIFEST, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * Someone who can push to a signed repository upstream dresses an unsigned image as an artifact of the signed
 * one: a manifest whose `subject` is the signed image and whose layers claim signature media types while
 * pointing at the unsigned image's blobs. Only bytes the proxy parsed as what they claim to be may take the
 * subject's decision; everything else is judged as an ordinary image on its own digest.
 */
const POLICIES = [{ name: 'signed', match: [`${UPSTREAM}/app/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] } }];
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';

describe.skipIf(!haveTools(['docker-registry']))('artifacts of a signed image', () => {
  let registry: Registry;
  let proxy: Proxy;
  let acme: TestKey;
  let signed: PushedImage;
  let unsigned: PushedImage;

  const manifest = (repo: string, ref: string) =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  const blob = (repo: string, digest: string, method = 'GET') => fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/blobs/${digest}`, { method });
  const push = async (a: OciArtifact, repo: string, ref?: string) => {
    for (const b of a.blobs) await pushBlob(registry.url, repo, b);
    await pushManifest(registry.url, repo, ref ?? a.tag ?? a.digest, a.manifest, a.mediaType);
  };
  const subjectOf = (image: PushedImage) => ({ mediaType: image.mediaType, digest: image.digest, size: image.size });
  const describe_ = (bytes: Buffer, mediaType: string) => ({ mediaType, digest: sha256(bytes), size: bytes.length });

  async function pushArtifact(repo: string, body: Record<string, unknown>, tag?: string): Promise<string> {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, ...body }));
    return pushManifest(registry.url, repo, tag ?? sha256(bytes), bytes, OCI_MANIFEST);
  }

  async function expectNoByteServed(repo: string, digests: string[]): Promise<void> {
    for (const d of digests) {
      for (const method of ['GET', 'HEAD']) {
        const res = await blob(repo, d, method);
        expect([403, 404], `${method} ${repo} blob ${d}`).toContain(res.status);
        await res.arrayBuffer();
      }
    }
  }

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    signed = await pushImage(registry.url, 'app/web', '1');
    await push(createSignatureArtifact({ digest: signed.digest, repository: `${UPSTREAM}/app/web`, signer: acme }), 'app/web');
    // The unsigned image lives elsewhere; its blobs are copied (uploaded) into the signed repository.
    unsigned = await pushImage(registry.url, 'app/unsigned', '1');
    for (const b of [unsigned.config.bytes, ...unsigned.layers.map((l) => l.bytes)]) await pushBlob(registry.url, 'app/web', b);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem } }, pull: { maxArtifactSize: '64KiB' } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('judges a layer that claims simple signing but is a tar.gz on its own digest, and serves none of its bytes', async () => {
    const layer = unsigned.layers[0]!;
    const disguised = {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: unsigned.config.digest, size: unsigned.config.size },
      layers: [{ mediaType: SIMPLE_SIGNING, digest: layer.digest, size: layer.size }],
    };
    const digest = await pushArtifact('app/web', { ...disguised, subject: subjectOf(signed) });
    const res = await manifest('app/web', digest);
    expect(res.status, await res.clone().text()).toBe(403);
    const body = (await res.json()) as { errors: Array<{ message: string }> };
    expect(body.errors[0]!.message).toMatch(/no signature/);
    expect(body.errors[0]!.message).toMatch(/not simple-signing JSON/);
    await expectNoByteServed('app/web', [layer.digest, unsigned.config.digest]);
    // The same disguise under a cosign tag of the signed image, in another repository, gets no further.
    const other = await pushImage(registry.url, 'app/other', '1');
    await push(createSignatureArtifact({ digest: other.digest, repository: `${UPSTREAM}/app/other`, signer: acme }), 'app/other');
    for (const b of [unsigned.config.bytes, layer.bytes]) await pushBlob(registry.url, 'app/other', b);
    const tag = `${other.digest.replace(':', '-')}.sbom`;
    await pushArtifact('app/other', disguised, tag);
    expect((await manifest('app/other', tag)).status).toBe(403);
    await expectNoByteServed('app/other', [layer.digest, unsigned.config.digest]);
  });

  it('does not rebuild a runnable unsigned image from three "simple-signing" layers', async () => {
    const manifestBlob = unsigned.manifest;
    await pushBlob(registry.url, 'app/web', manifestBlob);
    const pieces = [manifestBlob, unsigned.config.bytes, unsigned.layers[0]!.bytes];
    await pushBlob(registry.url, 'app/web', EMPTY_CONFIG);
    const digest = await pushArtifact('app/web', {
      artifactType: SIMPLE_SIGNING,
      config: describe_(EMPTY_CONFIG, EMPTY),
      layers: pieces.map((p) => describe_(p, SIMPLE_SIGNING)),
      subject: subjectOf(signed),
    });
    expect((await manifest('app/web', digest)).status).toBe(403);
    await expectNoByteServed('app/web', pieces.map((p) => sha256(p)));
  });

  it('takes an index as an artifact index only when every manifest it lists is a proven artifact', async () => {
    for (const b of [unsigned.config.bytes, ...unsigned.layers.map((l) => l.bytes)]) await pushBlob(registry.url, 'app/web', b);
    await pushManifest(registry.url, 'app/web', unsigned.digest, unsigned.manifest, unsigned.mediaType);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: unsigned.mediaType, digest: unsigned.digest, size: unsigned.size, artifactType: SIMPLE_SIGNING }],
      subject: subjectOf(signed),
    }));
    const digest = await pushManifest(registry.url, 'app/web', sha256(index), index, OCI_INDEX);
    expect((await manifest('app/web', digest)).status).toBe(403);
    expect((await manifest('app/web', unsigned.digest)).status).toBe(403);
    await expectNoByteServed('app/web', [unsigned.config.digest, unsigned.layers[0]!.digest]);
  });

  it('judges an artifact larger than pull.maxArtifactSize on its own digest, without reading it', async () => {
    const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'x'.repeat(70 * 1024) }));
    await pushBlob(registry.url, 'app/web', sbom);
    await pushBlob(registry.url, 'app/web', EMPTY_CONFIG);
    const digest = await pushArtifact('app/web', {
      artifactType: 'application/spdx+json',
      config: describe_(EMPTY_CONFIG, EMPTY),
      layers: [describe_(sbom, 'application/spdx+json')],
      subject: subjectOf(signed),
    });
    const before = await registry.countRequests(`/app/web/blobs/${sha256(sbom)}`);
    const res = await manifest('app/web', digest);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/pull\.maxArtifactSize/);
    expect(await registry.countRequests(`/app/web/blobs/${sha256(sbom)}`)).toBe(before);
    await expectNoByteServed('app/web', [sha256(sbom)]);
  });

  it('still serves real signatures, Sigstore bundle referrers, their fallback index and SBOMs, with their blobs', async () => {
    const sig = createSignatureArtifact({ digest: signed.digest, repository: `${UPSTREAM}/app/web`, signer: acme });
    const referrer = createSignatureReferrer({ subject: subjectOf(signed), signer: acme });
    await push(referrer, 'app/web');
    const fallback = referrersTagIndex(signed.digest, [referrer]);
    await push(fallback, 'app/web');
    const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: 'web', packages: [] }));
    await pushBlob(registry.url, 'app/web', sbom);
    const sbomDigest = await pushArtifact('app/web', {
      artifactType: 'application/spdx+json',
      config: describe_(EMPTY_CONFIG, EMPTY),
      layers: [describe_(sbom, 'application/spdx+json')],
      subject: subjectOf(signed),
    });
    for (const [ref, blobs] of [[sig.tag!, sig.blobs], [referrer.digest, referrer.blobs], [fallback.tag!, []], [sbomDigest, [EMPTY_CONFIG, sbom]]] as const) {
      const res = await manifest('app/web', ref);
      expect(res.status, `${ref}: ${await res.clone().text()}`).toBe(200);
      await res.arrayBuffer();
      for (const b of blobs) {
        const got = await blob('app/web', sha256(b));
        expect(got.status, `${ref} blob`).toBe(200);
        expect(Buffer.from(await got.arrayBuffer()).equals(b)).toBe(true);
      }
    }
  });
});
