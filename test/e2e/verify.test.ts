import { auditRows } from '../helpers/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ctrImages, ctrPull, skopeoCopy, startContainerd, writeHostsToml, type Containerd } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushIndex, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import {
  cosignTag,
  createAttestationArtifact,
  createSignatureArtifact,
  createSignatureReferrer,
  createTestPki,
  generateKey,
  referrersTagIndex,
  type OciArtifact,
  type TestKey,
  type TestPki,
} from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Verify before serving, end to end: images signed by a test PKI (keyed and keyless, legacy `.sig`/`.att`
 * tags and OCI 1.1 referrer bundles) pushed into a real distribution registry, pulled through the proxy by
 * real clients. Every verdict is the one cosign and policy-controller would reach.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const BUILDER = 'https://github.com/actions/runner/github-hosted';
const SOURCE = 'https://github.com/acme/app';
const DAY = 86_400_000;

const keyless = { keyless: { issuer: GITHUB, subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/release\\.yml@refs/tags/v.*' } };
const POLICIES = [
  { name: 'keyed', match: [`${UPSTREAM}/keyed/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] } },
  {
    name: 'keyed-tlog',
    match: [`${UPSTREAM}/keyed-tlog/*`],
    mode: 'enforce',
    signatures: { anyOf: [{ key: 'acme-release', tlog: 'required' }, { key: 'edwards', tlog: 'required' }] },
  },
  { name: 'keyless', match: [`${UPSTREAM}/keyless/*`, `${UPSTREAM}/multi/*`], mode: 'enforce', signatures: { anyOf: [keyless] } },
  {
    name: 'provenance',
    match: [`${UPSTREAM}/prov/*`],
    mode: 'enforce',
    signatures: { anyOf: [{ key: 'acme-release' }] },
    provenance: { signedBy: { anyOf: [{ key: 'acme-release' }] }, builderId: BUILDER, sourceRepository: SOURCE },
  },
  { name: 'fresh', match: [`${UPSTREAM}/fresh/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] }, maxAgeDays: 90 },
  { name: 'audit-only', match: [`${UPSTREAM}/warn/*`], mode: 'warn', signatures: { anyOf: [{ key: 'acme-release' }] } },
  { name: 'blocked', match: [`${UPSTREAM}/blocked/*`], mode: 'deny' },
];

describe.skipIf(skip)('verify before serving', () => {
  let registry: Registry;
  let proxy: Proxy;
  let pki: TestPki;
  let acme: TestKey;
  let other: TestKey;
  let edwards: TestKey;
  const images: Record<string, PushedImage> = {};

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  async function image(repo: string, opts: { created?: string } = {}): Promise<PushedImage> {
    const pushed = await pushImage(registry.url, repo, '1', { layers: 1, created: opts.created });
    images[repo] = pushed;
    return pushed;
  }

  const manifestUrl = (repo: string, ref: string) => `${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/${ref}`;
  const getManifest = (repo: string, ref = '1') => fetch(manifestUrl(repo, ref), { headers: { accept: ACCEPT_ALL_MANIFESTS } });

  async function expectDenied(repo: string, rule: string, reason: RegExp, ref = '1'): Promise<void> {
    const error = await expectOciError(await getManifest(repo, ref), 403, 'DENIED');
    expect(error.message).toMatch(new RegExp(`^portcullis: policy "${rule}": `));
    expect(error.message).toMatch(reason);
    const head = await fetch(manifestUrl(repo, ref), { method: 'HEAD', headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(head.status).toBe(403);
  }

  async function expectServed(repo: string, ref = '1'): Promise<Response> {
    const res = await getManifest(repo, ref);
    expect(res.status, `${repo}@${ref}: ${await res.clone().text()}`).toBe(200);
    return res;
  }

  const manifestRows = (repo: string): Array<Record<string, unknown>> =>
    auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/${repo}`) as unknown as Array<
      Record<string, unknown>
    >;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    other = generateKey('ecdsa-p256');
    edwards = generateKey('ed25519ph');
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    const sign = (repo: string, signer: Parameters<typeof createSignatureArtifact>[0]['signer'], extra: Record<string, unknown> = {}) =>
      push(createSignatureArtifact({ digest: images[repo]!.digest, repository: `${UPSTREAM}/${repo}`, signer, ...extra }), repo);
    const cert = (uri: string, issuer = GITHUB) => pki.fulcio.issue({ uri, issuer });

    // Keyed signatures.
    await image('keyed/app');
    await sign('keyed/app', acme);
    await image('keyed/wrong');
    await sign('keyed/wrong', other);
    await image('keyed/unsigned');
    await image('keyed/never');
    await sign('keyed/never', acme);
    await image('keyed-tlog/app');
    await sign('keyed-tlog/app', acme);
    await image('keyed-tlog/logged');
    await sign('keyed-tlog/logged', acme, { rekor: pki.rekor });
    await image('keyed-tlog/ed25519ph');
    await sign('keyed-tlog/ed25519ph', edwards, { rekor: pki.rekor });

    // Keyless signatures.
    await image('keyless/app');
    await sign('keyless/app', cert(RELEASE), { rekor: pki.rekor });
    await image('keyless/wrong-identity');
    await sign('keyless/wrong-identity', cert('https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main'), { rekor: pki.rekor });
    await image('keyless/wrong-issuer');
    await sign('keyless/wrong-issuer', cert(RELEASE, 'https://accounts.google.com'), { rekor: pki.rekor });
    await image('keyless/contains');
    await sign('keyless/contains', cert(`https://evil.example/${RELEASE}`), { rekor: pki.rekor });
    await image('keyless/untrusted-log');
    await sign('keyless/untrusted-log', cert(RELEASE), { rekor: pki.untrusted.rekor });
    await image('keyless/no-log');
    await sign('keyless/no-log', cert(RELEASE));
    // A valid signature of keyless/app copied next to another image.
    const victim = await image('keyless/copied');
    const stolen = createSignatureArtifact({ digest: images['keyless/app']!.digest, repository: `${UPSTREAM}/keyless/app`, signer: cert(RELEASE), rekor: pki.rekor });
    await push({ ...stolen, tag: cosignTag(victim.digest, 'sig') }, 'keyless/copied');
    // cosign v3: a Sigstore bundle as an OCI 1.1 referrer (this registry has no referrers API: tag schema).
    const bundled = await image('keyless/bundle');
    const referrer = createSignatureReferrer({
      subject: { mediaType: bundled.mediaType, digest: bundled.digest, size: bundled.size },
      signer: cert(RELEASE),
      rekor: pki.rekor,
    });
    await push(referrer, 'keyless/bundle');
    await push(referrersTagIndex(bundled.digest, [referrer]), 'keyless/bundle');

    // Provenance.
    const attest = (repo: string, provenance: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      push(createAttestationArtifact({ digest: images[repo]!.digest, signer: acme, provenance: { version: 'v1', ...provenance }, ...extra }), repo);
    for (const repo of ['prov/good', 'prov/other-builder', 'prov/other-digest', 'prov/missing']) {
      await image(repo);
      await sign(repo, acme);
    }
    await attest('prov/good', { builderId: BUILDER, sourceRepository: SOURCE });
    await attest('prov/other-builder', { builderId: 'https://ci.evil.example/builder', sourceRepository: SOURCE });
    await attest('prov/other-digest', { builderId: BUILDER, sourceRepository: SOURCE }, { subjectDigest: images['prov/good']!.digest });

    // Freshness.
    await image('fresh/old', { created: new Date(Date.now() - 400 * DAY).toISOString() });
    await sign('fresh/old', acme);
    await image('fresh/epoch-logged', { created: '1970-01-01T00:00:00Z' });
    await sign('fresh/epoch-logged', acme, { rekor: pki.rekor });
    await image('fresh/epoch-unlogged', { created: '1970-01-01T00:00:00Z' });
    await sign('fresh/epoch-unlogged', acme);
    await image('fresh/epoch-old-log', { created: '1970-01-01T00:00:00Z' });
    await sign('fresh/epoch-old-log', acme, { rekor: pki.rekor, integratedTime: new Date(Date.now() - 400 * DAY) });

    // Multi-platform: a signed index whose children are unsigned, and an unsigned index.
    for (const name of ['multi/signed', 'multi/unsigned']) {
      const amd = await pushImage(registry.url, name, 'amd64', { platform: { os: 'linux', architecture: 'amd64' } });
      const arm = await pushImage(registry.url, name, 'arm64', { platform: { os: 'linux', architecture: 'arm64' } });
      const index = await pushIndex(registry.url, name, '1', [amd, arm]);
      images[name] = { ...arm, digest: index.digest };
      images[`${name}:arm64`] = arm;
    }
    await push(createSignatureArtifact({ digest: images['multi/signed']!.digest, repository: `${UPSTREAM}/multi/signed`, signer: cert(RELEASE), rekor: pki.rekor }), 'multi/signed');

    // Modes.
    await image('warn/unsigned');
    await image('blocked/app');
    await image('nobody/app');

    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem, 'other-key': other.publicKeyPem, edwards: edwards.publicKeyPem } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  describe('keyed signatures', () => {
    it('serves an image signed with the trusted key, through skopeo, byte for byte', async () => {
      const dest = await tempDir('copy');
      await skopeoCopy(`${proxy.host}/${UPSTREAM}/keyed/app:1`, dest);
      const res = await expectServed('keyed/app');
      expect(res.headers.get('docker-content-digest')).toBe(images['keyed/app']!.digest);
      const row = manifestRows('keyed/app').at(-1)!;
      expect(row.decision).toBe('allow');
      expect(row.evidence).toContain('acme-release');
    });

    it('denies a signature by another key, and an unsigned image, with a message skopeo shows', async () => {
      await expectDenied('keyed/wrong', 'keyed', /signature/i);
      await expectDenied('keyed/unsigned', 'keyed', /signature/i);
      const dest = await tempDir('copy');
      const err = await skopeoCopy(`${proxy.host}/${UPSTREAM}/keyed/wrong:1`, dest).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      // skopeo quotes the registry's message: `denied: portcullis: policy \"keyed\": no signature by key …`.
      expect((err as Error).message).toMatch(/denied: portcullis: policy \\?"keyed\\?": no signature/);
    });

    it('requires a transparency-log entry when the rule says tlog: required', async () => {
      await expectDenied('keyed-tlog/app', 'keyed-tlog', /log|tlog/i);
      await expectServed('keyed-tlog/logged');
    });

    it('accepts an Ed25519ph key signature (cosign\'s default for Ed25519 keys) with its sha512 log entry', async () => {
      await expectServed('keyed-tlog/ed25519ph');
      const row = manifestRows('keyed-tlog/ed25519ph').at(-1)!;
      expect(String(row.evidence)).toContain('edwards');
      expect(String(row.evidence)).toMatch(/logIndex/);
    });
  });

  describe('keyless signatures', () => {
    it('serves an image signed by the allowed workflow identity and records signer and log entry', async () => {
      await expectServed('keyless/app');
      const row = manifestRows('keyless/app').at(-1)!;
      expect(row.decision).toBe('allow');
      const evidence = String(row.evidence);
      expect(evidence).toContain(RELEASE);
      expect(evidence).toContain(GITHUB);
      expect(evidence).toMatch(/logIndex/);
    });

    it('denies another identity, another issuer, and an identity that only contains the allowed one', async () => {
      await expectDenied('keyless/wrong-identity', 'keyless', /signature/i);
      await expectDenied('keyless/wrong-issuer', 'keyless', /signature/i);
      await expectDenied('keyless/contains', 'keyless', /signature/i);
    });

    it('denies a log entry from an untrusted log, and a keyless signature with no log entry', async () => {
      await expectDenied('keyless/untrusted-log', 'keyless', /signature/i);
      await expectDenied('keyless/no-log', 'keyless', /signature/i);
    });

    it('denies a valid signature copied from another image', async () => {
      await expectDenied('keyless/copied', 'keyless', /signature/i);
    });

    it('accepts a cosign v3 Sigstore bundle found through the referrers tag schema', async () => {
      await expectServed('keyless/bundle');
      const referrers = await fetch(`${proxy.url}/v2/${UPSTREAM}/keyless/bundle/referrers/${images['keyless/bundle']!.digest}`);
      expect(referrers.status).toBe(200);
      const index = (await referrers.json()) as { manifests: Array<{ artifactType?: string }> };
      expect(index.manifests.map((m) => m.artifactType)).toContain('application/vnd.dev.sigstore.bundle.v0.3+json');
    });
  });

  describe('provenance', () => {
    it('serves an image whose SLSA provenance names the allowed builder and source', async () => {
      await expectServed('prov/good');
      expect(String(manifestRows('prov/good').at(-1)!.evidence)).toContain('https://slsa.dev/provenance/v1');
    });

    it('denies provenance from another builder, for another digest, or missing', async () => {
      await expectDenied('prov/other-builder', 'provenance', /provenance/i);
      await expectDenied('prov/other-digest', 'provenance', /provenance/i);
      await expectDenied('prov/missing', 'provenance', /provenance/i);
    });
  });

  describe('freshness', () => {
    it('denies an image built 400 days ago under maxAgeDays 90', async () => {
      await expectDenied('fresh/old', 'fresh', /stale/i);
    });

    it('ignores reproducible-build epoch dates and falls back to the signature log time', async () => {
      await expectServed('fresh/epoch-logged');
      await expectDenied('fresh/epoch-old-log', 'fresh', /stale/i);
      await expectDenied('fresh/epoch-unlogged', 'fresh', /build time unknown/i);
    });
  });

  describe('multi-platform images', () => {
    it('serves a platform of a signed index to containerd, and denies an unsigned index', async () => {
      if (!haveTools(['containerd', 'ctr']) || !haveRoot()) return;
      let containerd: Containerd | undefined;
      try {
        containerd = await startContainerd({ dir: await tempDir('containerd') });
        const hostsDir = await writeHostsToml(await tempDir('hosts'), UPSTREAM, proxy.url);
        await ctrPull(containerd.socket, `${UPSTREAM}/multi/signed:1`, { hostsDir, platform: 'linux/arm64' });
        const pulled = await ctrImages(containerd.socket);
        expect(pulled.map((i) => i.digest)).toContain(images['multi/signed']!.digest);
        const denied = await ctrPull(containerd.socket, `${UPSTREAM}/multi/unsigned:1`, { hostsDir, platform: 'linux/arm64' }).catch((e: Error) => e);
        expect(denied).toBeInstanceOf(Error);
        // containerd resolves with HEAD, which has no body to carry the reason: it shows the 403 status.
        expect((denied as Error).message).toMatch(/403 Forbidden/);
      } finally {
        await containerd?.stop();
      }
    });

    it('serves a child by digest once its signed index is known, and denies an unsigned child with no verified parent', async () => {
      await expectServed('multi/signed');
      await expectServed('multi/signed', images['multi/signed:arm64']!.digest);
      await expectDenied('multi/unsigned', 'keyless', /signature/i, images['multi/unsigned:arm64']!.digest);
    });
  });

  describe('modes and blobs', () => {
    it('serves in warn mode and records the failure', async () => {
      await expectServed('warn/unsigned');
      const row = manifestRows('warn/unsigned').at(-1)!;
      expect(row.decision).toBe('warn');
      expect(String(row.reasons)).toMatch(/signature/i);
    });

    it('denies deny-mode rules and images no rule matches', async () => {
      await expectDenied('blocked/app', 'blocked', /denied/i);
      const error = await expectOciError(await getManifest('nobody/app'), 403, 'DENIED');
      expect(error.message).toMatch(/no policy rule matches upstream\.test\/nobody\/app/);
    });

    it('never serves a layer of a denied image, under its own name or another', async () => {
      const layer = images['keyed/wrong']!.layers[0]!.digest;
      // A denied manifest links none of its blobs: they are unknown here.
      await expectOciError(await fetch(`${proxy.url}/v2/${UPSTREAM}/keyed/wrong/blobs/${layer}`), 404, 'BLOB_UNKNOWN');
      const elsewhere = await fetch(`${proxy.url}/v2/${UPSTREAM}/keyed/app/blobs/${layer}`);
      expect(elsewhere.status).not.toBe(200);
      await elsewhere.arrayBuffer();
    });

    it('keeps serving verified images from cached evidence while the upstream is down, and denies what it cannot verify', async () => {
      await expectServed('keyless/app');
      const layer = images['keyless/app']!.layers[0]!.digest;
      const blobUrl = `${proxy.url}/v2/${UPSTREAM}/keyless/app/blobs/${layer}`;
      expect((await fetch(blobUrl).then((r) => r.arrayBuffer())).byteLength).toBe(images['keyless/app']!.layers[0]!.size);
      await registry.stop();
      try {
        await expectServed('keyless/app');
        await expectServed('keyless/app', images['keyless/app']!.digest);
        const blob = await fetch(blobUrl);
        expect(blob.status).toBe(200);
        await blob.arrayBuffer();
        // Never pulled, so nothing is cached: neither its manifest nor its evidence can be read, and nothing is served.
        const res = await getManifest('keyed/never', images['keyed/never']!.digest);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).not.toBe(200);
        await res.arrayBuffer();
      } finally {
        await registry.start();
      }
    });

    it('serves signature artifacts only for subjects that pass', async () => {
      const good = await getManifest('keyed/app', cosignTag(images['keyed/app']!.digest, 'sig'));
      expect(good.status).toBe(200);
      await good.arrayBuffer();
      await expectOciError(await getManifest('keyed/wrong', cosignTag(images['keyed/wrong']!.digest, 'sig')), 403, 'DENIED');
    });
  });
});
