import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { createAttestationReferrer, createTestPki, generateKey, referrersTagIndex, type OciArtifact, type ReferrerArtifact, type Signer, type TestKey, type TestPki } from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Scans published as cosign v3 and Docker Hardened Images publish them: a Sigstore bundle (`attest
 * --new-bundle-format`) attached as an OCI 1.1 referrer, several MiB for a real image. A real Trivy report
 * (test/fixtures/vuln) grown to about 20 MiB of bundle, signed with a throwaway key, pushed to a real
 * distribution registry (referrers through the `sha256-<hex>` tag schema), judged by the proxy process.
 */
const skip = !haveTools(['docker-registry']);

const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SPDX = 'https://spdx.dev/Document';
const MiB = 1024 * 1024;
const trivyReport = () => JSON.parse(readFileSync(join(__dirname, '../fixtures/vuln/trivy-debian-buster.json'), 'utf8'));

/** The pinned report with one of its findings (critical or low) repeated over enough packages to make `mib` MiB. */
function bigReport(severity: 'CRITICAL' | 'LOW', mib: number): unknown {
  const report = trivyReport();
  const one = report.Results[0].Vulnerabilities.find((v: { Severity: string }) => v.Severity === severity);
  const copies = Math.ceil((mib * MiB) / JSON.stringify(one).length);
  report.Results[0].Vulnerabilities = Array.from({ length: copies }, (_, i) => ({ ...one, PkgName: `pkg-${i}`, PkgIdentifier: { PURL: `pkg:deb/debian/pkg-${i}@1` } }));
  return report;
}
const scanPredicate = (result: unknown) => {
  const at = new Date(Date.now() - 3_600_000).toISOString();
  return { scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', version: '0.58.0', result }, metadata: { scanStartedOn: at, scanFinishedOn: at } };
};
/** An SPDX document of about `mib` MiB: an SBOM, which is no scan. */
const sbom = (mib: number) => ({
  spdxVersion: 'SPDX-2.3',
  packages: Array.from({ length: Math.ceil((mib * MiB) / 100) }, (_, i) => ({ SPDXID: `SPDXRef-${i}`, name: `pkg-${i}`, versionInfo: '1.0.0-padding-padding' })),
});

const GITHUB = 'https://token.actions.githubusercontent.com';
const SCAN_WORKFLOW = 'https://github.com/acme/app/.github/workflows/scan.yml@refs/heads/main';
const rule = (name: string, signer: unknown) => ({
  name,
  match: [`${UPSTREAM}/${name}/*`],
  mode: 'enforce',
  vulnerabilities: { scans: { signedBy: { anyOf: [signer] }, maxAge: '7d' }, deny: { severity: 'critical' } },
});
const POLICIES = [rule('acme', { key: 'acme-scanner' }), rule('keyless', { keyless: { issuer: GITHUB, subject: SCAN_WORKFLOW } })];

describe.skipIf(skip)('scans in referrer bundles of several MiB', () => {
  let registry: Registry;
  let proxy: Proxy;
  let scanner: TestKey;
  let pki: TestPki;
  const bundleBytes: Record<string, number> = {};

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  /** An image whose only referrer is one bundle attesting `predicate` (annotated as `annotated`, if given). */
  async function image(repo: string, predicateType: string, predicate: unknown, annotated?: string, keyless = false): Promise<void> {
    const pushed = await pushImage(registry.url, repo, '1', { layers: 1 });
    const subject = { mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size };
    // Keyless as cosign v3 signs in CI: a Fulcio certificate for the workflow, the envelope logged in Rekor.
    const signer: Signer = keyless ? pki.fulcio.issue({ uri: SCAN_WORKFLOW, issuer: GITHUB }) : scanner;
    const referrer: ReferrerArtifact = createAttestationReferrer({ subject, signer, ...(keyless && { rekor: pki.rekor }), predicateType, predicate, ...(annotated && { annotatedPredicateType: annotated }) });
    bundleBytes[repo] = referrer.blobs[1]!.length;
    await push(referrer, repo);
    await push(referrersTagIndex(pushed.digest, [referrer]), repo);
  }
  const getManifest = (repo: string) => fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  async function denial(repo: string): Promise<string> {
    const error = await expectOciError(await getManifest(repo), 403, 'DENIED');
    const message = String(error.message);
    expect(message).toContain('portcullis: policy "acme": ');
    return message;
  }
  /** The slowest answer to `GET /v2/`, asked again and again until `work` settles: how long the proxy stood still. */
  async function slowestPingWhile<T>(work: Promise<T>): Promise<{ result: T; slowest: number; pings: number }> {
    let done = false;
    const settled = work.finally(() => { done = true; });
    let slowest = 0;
    let pings = 0;
    while (!done) {
      const started = performance.now();
      await (await fetch(`${proxy.url}/v2/`)).arrayBuffer();
      slowest = Math.max(slowest, performance.now() - started);
      pings++;
    }
    return { result: await settled, slowest, pings };
  }

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    scanner = generateKey('ecdsa-p256');
    pki = createTestPki();
    await image('acme/big-critical', VULN, scanPredicate(bigReport('CRITICAL', 15.5)));
    await image('acme/big-clean', VULN, scanPredicate(bigReport('LOW', 15.5)));
    await image('acme/big-sbom', SPDX, sbom(2.8));
    // The annotation claims a scan to get the larger limit; the signed statement is an SBOM.
    await image('acme/claims-scan', SPDX, sbom(2.8), VULN);
    await image('keyless/big-critical', VULN, scanPredicate(bigReport('CRITICAL', 15.5)), undefined, true);
    const dataDir = await tempDir('proxy');
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: { trust: { trustedRoot: await pki.writeTrustedRoot(dataDir), keys: { 'acme-scanner': scanner.publicKeyPem } } },
    });
  }, 240_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('denies an image whose 20 MiB signed scan bundle has a critical finding, naming it, and keeps answering meanwhile', async () => {
    expect(bundleBytes['acme/big-critical']).toBeGreaterThan(20 * MiB);
    const { result: message, slowest, pings } = await slowestPingWhile(denial('acme/big-critical'));
    console.log(`~20 MiB referrer bundle: ${pings} pings answered while it was judged, the slowest in ${slowest.toFixed(0)} ms`);
    expect(message).toContain('vulnerabilities: 1 critical (CVE-2019-18224 in pkg-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND repository = ? AND status = 403", `${UPSTREAM}/acme/big-critical`) as unknown as Array<Record<string, unknown>>;
    const scan = JSON.parse(String(rows.pop()!.evidence)).vulnerabilities.scans[0];
    expect(scan.counts.critical).toBeGreaterThan(5_000);
    expect(scan.signer).toBe('key "acme-scanner"');
    expect(pings).toBeGreaterThan(1);
    expect(slowest).toBeLessThan(1_000);
  }, 120_000);

  it('serves an image whose 20 MiB signed scan bundle is clean', async () => {
    expect(bundleBytes['acme/big-clean']).toBeGreaterThan(20 * MiB);
    const res = await getManifest('acme/big-clean');
    expect(res.status, await res.clone().text()).toBe(200);
    await res.arrayBuffer();
  }, 120_000);

  it('judges a 20 MiB keyless scan bundle logged in Rekor, its scan time the log\'s', async () => {
    const error = await expectOciError(await getManifest('keyless/big-critical'), 403, 'DENIED');
    expect(String(error.message)).toContain('portcullis: policy "keyless": vulnerabilities: 1 critical (CVE-2019-18224 in pkg-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND repository = ? AND status = 403", `${UPSTREAM}/keyless/big-critical`) as unknown as Array<Record<string, unknown>>;
    const scan = JSON.parse(String(rows.pop()!.evidence)).vulnerabilities.scans[0];
    expect(scan).toMatchObject({ scanTimeSource: 'tlog' });
    expect(scan.signer).toContain(SCAN_WORKFLOW);
  }, 120_000);

  it('still refuses a 3 MiB bundle that is no scan, and one whose annotation claims a scan it does not hold', async () => {
    expect(bundleBytes['acme/big-sbom']).toBeGreaterThan(3 * MiB);
    expect(await denial('acme/big-sbom')).toContain(`vulnerabilities: no signed scan by key "acme-scanner"; rejected: TOO_LARGE: bundle is ${bundleBytes['acme/big-sbom']} bytes; the limit is 2097152`);
    expect(await denial('acme/claims-scan')).toContain(
      `rejected: TOO_LARGE: bundle is ${bundleBytes['acme/claims-scan']} bytes, over 2097152, but its statement is ${SPDX}; only scan and VEX reports may be larger`,
    );
  }, 120_000);
});
