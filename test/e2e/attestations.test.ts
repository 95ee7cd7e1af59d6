import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushIndex, pushManifest, startRegistry, type PushedImage, type PushImageOptions, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import {
  cosignManifest,
  createAttestationArtifact,
  createAttestationLayer,
  createAttestationReferrer,
  createSignatureArtifact,
  createSignatureReferrer,
  createTestPki,
  generateKey,
  referrersTagIndex,
  type OciArtifact,
  type Signer,
  type TestKey,
  type TestPki,
} from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Attestations of any kind and conditions on the image, end to end: images with SBOM and vulnerability-scan
 * attestations (legacy `.att` layers signed with keys, and cosign v3 referrer bundles signed keyless by a
 * test Fulcio) pushed into a real distribution registry and pulled through the proxy by skopeo and plain HTTP.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const SPDX = 'https://spdx.dev/Document';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const SCAN = 'https://github.com/acme/app/.github/workflows/scan.yml@refs/heads/main';
const DAY = 86_400_000;

const ISSUE_CONDITION = "image.config.User != '' && image.config.User != 'root' && !('22/tcp' in image.config.ExposedPorts)";
type Requirement = Record<string, unknown>;
const acmeRule = (name: string, repo: string, release: Requirement, scanner: Requirement) => ({
  name,
  match: [`${UPSTREAM}/${repo}/*`],
  mode: 'enforce',
  signatures: { anyOf: [release] },
  attestations: [
    { name: 'sbom', predicateType: SPDX, signedBy: { anyOf: [release] } },
    { name: 'vuln-scan', predicateType: VULN, signedBy: { anyOf: [scanner] }, condition: 'predicate.scanner.result.summary.CRITICAL == 0' },
  ],
  condition: ISSUE_CONDITION,
});
const keylessRelease = { keyless: { issuer: GITHUB, subject: RELEASE } };
const keylessScanner = { keyless: { issuer: GITHUB, subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/scan\\.yml@.*' } };
const POLICIES = [
  acmeRule('acme', 'acme', { key: 'acme-release' }, { key: 'acme-scanner' }),
  acmeRule('acme-keyless', 'keyless', keylessRelease, keylessScanner),
  { name: 'rootless', match: [`${UPSTREAM}/rootless/*`], mode: 'enforce', condition: "image.config.User != '' && image.config.User != 'root' && image.config.User != '0'" },
  { name: 'cosigned', match: [`${UPSTREAM}/cosigned/*`], mode: 'enforce', attestations: [{ name: 'sbom', predicateType: SPDX, signedBy: { anyOf: [{ key: 'acme-release' }] } }] },
  { name: 'multi', match: [`${UPSTREAM}/multi/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }] }, condition: "image.config.User != 'root'" },
];

const NON_ROOT = { User: 'app', ExposedPorts: { '8080/tcp': {} }, Entrypoint: ['/app/server'] };
const sbomPredicate = { spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: 'acme/app', packages: [{ name: 'openssl', versionInfo: '3.0.13' }] };
const vulnPredicate = (critical: number) => ({
  invocation: { uri: 'https://github.com/acme/app/actions/runs/1' },
  scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.50.0', version: '0.50.0', result: { summary: { CRITICAL: critical, HIGH: 2 } } },
  metadata: { scanStartedOn: new Date(Date.now() - DAY).toISOString(), scanFinishedOn: new Date(Date.now() - DAY).toISOString() },
});

describe.skipIf(skip)('attestations and conditions', () => {
  let registry: Registry;
  let proxy: Proxy;
  let pki: TestPki;
  let acme: TestKey;
  let scanner: TestKey;
  let stranger: TestKey;
  const images: Record<string, PushedImage> = {};

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  async function image(repo: string, opts: PushImageOptions = { imageConfig: NON_ROOT }): Promise<PushedImage> {
    images[repo] = await pushImage(registry.url, repo, '1', { layers: 1, ...opts });
    return images[repo]!;
  }

  /** The legacy `.att` manifest cosign writes: one layer per attestation. */
  async function attest(repo: string, atts: Array<{ predicateType: string; predicate: unknown; signer: Signer }>): Promise<void> {
    const digest = images[repo]!.digest;
    const layers = atts.map((a) => createAttestationLayer({ digest, ...a, rekor: pki.rekor }));
    await push(cosignManifest(digest, layers, 'att'), repo);
  }

  const signKeyed = (repo: string) => push(createSignatureArtifact({ digest: images[repo]!.digest, repository: `${UPSTREAM}/${repo}`, signer: acme }), repo);

  const getManifest = (repo: string, ref = '1') =>
    fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });

  async function expectServed(repo: string, ref = '1'): Promise<void> {
    const res = await getManifest(repo, ref);
    expect(res.status, `${repo}@${ref}: ${await res.clone().text()}`).toBe(200);
    await res.arrayBuffer();
  }

  async function expectDenied(repo: string, rule: string, reason: string, ref = '1'): Promise<void> {
    const error = await expectOciError(await getManifest(repo, ref), 403, 'DENIED');
    expect(error.message).toContain(`portcullis: policy "${rule}": `);
    expect(error.message).toContain(reason);
  }

  /** skopeo prints the registry's message; quotes may come escaped. */
  async function skopeoDenied(repo: string): Promise<string> {
    const err = await skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, await tempDir('copy')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    return (err as Error).message.replace(/\\"/g, '"');
  }

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    scanner = generateKey('ecdsa-p256');
    stranger = generateKey('ecdsa-p256');
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);

    // Keyed: signature and attestations as legacy cosign tags.
    await image('acme/good');
    await signKeyed('acme/good');
    await attest('acme/good', [
      { predicateType: SPDX, predicate: sbomPredicate, signer: acme },
      { predicateType: VULN, predicate: vulnPredicate(0), signer: scanner },
    ]);
    await image('acme/no-sbom');
    await signKeyed('acme/no-sbom');
    await attest('acme/no-sbom', [{ predicateType: VULN, predicate: vulnPredicate(0), signer: scanner }]);
    await image('acme/unsigned-sbom');
    await signKeyed('acme/unsigned-sbom');
    await attest('acme/unsigned-sbom', [
      { predicateType: SPDX, predicate: sbomPredicate, signer: stranger },
      { predicateType: VULN, predicate: vulnPredicate(0), signer: scanner },
    ]);
    await image('acme/wrong-scanner');
    await signKeyed('acme/wrong-scanner');
    await attest('acme/wrong-scanner', [
      { predicateType: SPDX, predicate: sbomPredicate, signer: acme },
      { predicateType: VULN, predicate: vulnPredicate(0), signer: acme },
    ]);
    await image('acme/critical');
    await signKeyed('acme/critical');
    await attest('acme/critical', [
      { predicateType: SPDX, predicate: sbomPredicate, signer: acme },
      { predicateType: VULN, predicate: vulnPredicate(3), signer: scanner },
    ]);
    await image('acme/root', { imageConfig: { User: 'root' } });
    await signKeyed('acme/root');
    await attest('acme/root', [
      { predicateType: SPDX, predicate: sbomPredicate, signer: acme },
      { predicateType: VULN, predicate: vulnPredicate(0), signer: scanner },
    ]);

    // Keyless: cosign v3 bundles as OCI 1.1 referrers, found through the tag schema (no referrers API here).
    const release = () => pki.fulcio.issue({ uri: RELEASE, issuer: GITHUB });
    const scan = () => pki.fulcio.issue({ uri: SCAN, issuer: GITHUB });
    for (const [repo, critical] of [['keyless/good', 0], ['keyless/critical', 1]] as const) {
      const pushed = await image(repo);
      const subject = { mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size };
      const referrers = [
        createSignatureReferrer({ subject, signer: release(), rekor: pki.rekor }),
        createAttestationReferrer({ subject, signer: release(), rekor: pki.rekor, predicateType: SPDX, predicate: sbomPredicate }),
        createAttestationReferrer({ subject, signer: scan(), rekor: pki.rekor, predicateType: VULN, predicate: vulnPredicate(critical) }),
      ];
      for (const r of referrers) await push(r, repo);
      await push(referrersTagIndex(pushed.digest, referrers), repo);
    }

    // A rule condition alone.
    await image('rootless/root', { imageConfig: { User: 'root' } });
    await image('rootless/app', { imageConfig: { User: '1000:1000' } });

    // A co-signed legacy attestation: the scanner's signature first, then the release key's.
    await image('cosigned/app');
    await push(createAttestationArtifact({ digest: images['cosigned/app']!.digest, signer: acme, cosigners: [scanner], cosignersFirst: true, predicateType: SPDX, predicate: sbomPredicate }), 'cosigned/app');

    // Multi-platform: a signed index over a non-root amd64 image and a root arm64 image.
    const amd = await pushImage(registry.url, 'multi/app', 'amd64', { platform: { os: 'linux', architecture: 'amd64' }, imageConfig: NON_ROOT });
    const arm = await pushImage(registry.url, 'multi/app', 'arm64', { platform: { os: 'linux', architecture: 'arm64' }, imageConfig: { User: 'root' } });
    const index = await pushIndex(registry.url, 'multi/app', '1', [amd, arm]);
    images['multi/app:amd64'] = amd;
    images['multi/app:arm64'] = arm;
    await push(createSignatureArtifact({ digest: index.digest, repository: `${UPSTREAM}/multi/app`, signer: acme }), 'multi/app');

    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot, keys: { 'acme-release': acme.publicKeyPem, 'acme-scanner': scanner.publicKeyPem } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('serves an image with a signed SBOM and a clean vulnerability scan through skopeo, and records what met each entry', async () => {
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/acme/good:1`, await tempDir('copy'));
    const row = auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/acme/good`).at(-1)!;
    expect(row.decision).toBe('allow');
    const evidence = JSON.parse(String(row.evidence)) as { attestationsMet: Array<{ name: string; signer: unknown }> };
    expect(evidence.attestationsMet).toEqual([
      expect.objectContaining({ name: 'sbom', predicateType: SPDX, signer: { key: 'acme-release' } }),
      expect.objectContaining({ name: 'vuln-scan', predicateType: VULN, signer: { key: 'acme-scanner' } }),
    ]);
  });

  it('serves the same policy with keyless signers from cosign v3 referrer bundles', async () => {
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/keyless/good:1`, await tempDir('copy'));
    await expectDenied(
      'keyless/critical',
      'acme-keyless',
      'attestation "vuln-scan": condition "predicate.scanner.result.summary.CRITICAL == 0" is false (predicate.scanner.result.summary.CRITICAL is 1)',
    );
  });

  it('denies a missing, an unverifiable, a wrongly signed and a failing attestation, each named, as skopeo shows', async () => {
    expect(await skopeoDenied('acme/no-sbom')).toContain(`denied: portcullis: policy "acme": attestation "sbom": no verified ${SPDX} attestation`);
    expect(await skopeoDenied('acme/unsigned-sbom')).toMatch(
      new RegExp(`policy "acme": attestation "sbom": no verified ${SPDX.replace(/[./]/g, '\\$&')} attestation \\(rejected: SIGNATURE_INVALID: `),
    );
    expect(await skopeoDenied('acme/wrong-scanner')).toContain(
      `policy "acme": attestation "vuln-scan": ${VULN} attestation is not signed by key "acme-scanner" (signed by key "acme-release")`,
    );
    expect(await skopeoDenied('acme/critical')).toContain(
      'policy "acme": attestation "vuln-scan": condition "predicate.scanner.result.summary.CRITICAL == 0" is false (predicate.scanner.result.summary.CRITICAL is 3)',
    );
  });

  it('denies a root image under the rule condition, naming the failing part and the value', async () => {
    expect(await skopeoDenied('acme/root')).toContain(
      `policy "acme": condition "${ISSUE_CONDITION}" is false at "image.config.User != "root"" (image.config.User is "root")`,
    );
  });

  it('a condition on image.config.User alone: denies root and serves a non-root user, through skopeo', async () => {
    expect(await skopeoDenied('rootless/root')).toContain('policy "rootless": condition');
    expect(await skopeoDenied('rootless/root')).toContain('(image.config.User is "root")');
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/rootless/app:1`, await tempDir('copy'));
  });

  it('accepts a co-signed legacy attestation when one of its signatures is by the trusted key', async () => {
    await expectServed('cosigned/app');
  });

  it('judges each platform manifest of a multi-platform image by its own config', async () => {
    await expectServed('multi/app');
    await expectServed('multi/app', images['multi/app:amd64']!.digest);
    await expectDenied('multi/app', 'multi', '(image.config.User is "root")', images['multi/app:arm64']!.digest);
    const amd = await skopeoCopy(`${proxy.host}/${UPSTREAM}/multi/app:1`, await tempDir('copy'), { overrideArch: 'amd64', overrideOs: 'linux' }).then(() => 'ok', (e: Error) => e.message);
    expect(amd).toBe('ok');
    const arm = await skopeoCopy(`${proxy.host}/${UPSTREAM}/multi/app:1`, await tempDir('copy'), { overrideArch: 'arm64', overrideOs: 'linux' }).then(() => 'ok', (e: Error) => e.message);
    expect(arm.replace(/\\"/g, '"')).toContain('denied: portcullis: policy "multi": condition "image.config.User != \'root\'" is false');
  });
});
