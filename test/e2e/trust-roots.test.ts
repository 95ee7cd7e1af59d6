import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { createAttestationReferrer, createTestPki, referrersTagIndex, type OciArtifact, type TestPki, type TestTsa } from '../helpers/pki/index.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * A second Sigstore instance shaped like GitHub's (certificates without SCTs, no transparency log, an
 * RFC 3161 timestamp authority) beside the tests' own public-good-like instance. An image attested through
 * it, as `actions/attest-build-provenance` with `push-to-registry` stores it (an OCI 1.1 referrer holding a
 * v0.3 bundle, found here through the tag fallback), is pulled with skopeo from a real distribution registry.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const ISSUER = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/private-app/.github/workflows/release.yml@refs/heads/main';
const REPO_URI = 'https://github.com/acme/private-app';
const BUILDER = 'https://github.com/actions/runner/github-hosted';
const SOURCE_REPOSITORY_URI = '1.3.6.1.4.1.57264.1.12';

const signedBy = (keyless: Record<string, unknown>) => ({
  signedBy: { anyOf: [{ keyless: { issuer: ISSUER, subjectRegExp: 'https://github\\.com/acme/[^/]+/\\.github/workflows/.*', ...keyless } }] },
  builderId: BUILDER,
  sourceRepository: REPO_URI,
});
const POLICIES = [
  { name: 'github-instance', match: [`${UPSTREAM}/private/*`], mode: 'enforce', provenance: signedBy({ root: 'github', extensions: { sourceRepositoryURI: REPO_URI } }) },
  { name: 'public-good-only', match: [`${UPSTREAM}/default-root/*`], mode: 'enforce', provenance: signedBy({ extensions: { sourceRepositoryURI: REPO_URI } }) },
  { name: 'other-repository', match: [`${UPSTREAM}/other-repo/*`], mode: 'enforce', provenance: signedBy({ root: 'github', extensions: { sourceRepositoryURI: 'https://github.com/acme/other' } }) },
];

describe.skipIf(skip)('several trusted roots: GitHub-instance attestations through the proxy', () => {
  let registry: Registry;
  let proxy: Proxy;
  let pki: TestPki;

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  /** An image with its build provenance attested through the GitHub-like instance, stamped by `tsa`. */
  async function attested(repo: string, tsa: TestTsa): Promise<void> {
    const image = await pushImage(registry.url, repo, '1', { layers: 1 });
    const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const signer = pki.githubLike.fulcio.issue({ uri: WORKFLOW, issuer: ISSUER, sct: 'none', extraExtensions: { [SOURCE_REPOSITORY_URI]: REPO_URI } });
    const referrer = createAttestationReferrer({ subject, signer, tsa, provenance: { builderId: BUILDER, sourceRepository: REPO_URI } });
    await push(referrer, repo);
    await push(referrersTagIndex(image.digest, [referrer]), repo);
  }

  const pull = async (repo: string) => skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, await tempDir('copy')).then(() => 'served', (e: Error) => e.message.replace(/\\"/g, '"'));

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    pki = createTestPki();
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    const github = await pki.githubLike.writeTrustedRoot(dataDir);
    for (const repo of ['private/app', 'default-root/app', 'other-repo/app']) await attested(repo, pki.githubLike.tsa);
    await attested('private/untrusted-tsa', pki.untrusted.tsa);
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot, roots: { github } } },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('serves the image under a rule that names the GitHub-like root and pins the source repository', async () => {
    expect(await pull('private/app')).toBe('served');
    const row = auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/private/app`).at(-1)!;
    expect(row.decision).toBe('allow');
    expect(JSON.parse(String(row.evidence)).attestationTypes[0]).toMatchObject({ builderId: BUILDER, sourceRepository: REPO_URI, signer: { subject: WORKFLOW, roots: ['github'] } });
  });

  it('refuses the same attestation under the default root', async () => {
    const message = await pull('default-root/app');
    expect(message).toContain('denied: portcullis: policy "public-good-only": SLSA provenance is not signed by');
    expect(message).toContain(`${WORKFLOW} (issuer ${ISSUER}, root github)`);
  });

  it("refuses it under another repository's extension value", async () => {
    expect(await pull('other-repo/app')).toContain('policy "other-repository": SLSA provenance is not signed by');
  });

  it('refuses an attestation stamped by a timestamp authority the root does not list', async () => {
    const message = await pull('private/untrusted-tsa');
    expect(message).toContain('policy "github-instance": no verified SLSA provenance');
    const row = auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/private/untrusted-tsa`).at(-1)!;
    expect(row.decision).toBe('deny');
    expect(String(row.evidence)).toMatch(/TIMESTAMP: .*root \\"github\\": TIMESTAMP: timestamp could not be verified/);
  });
});
