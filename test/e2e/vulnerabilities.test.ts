import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { CLI, startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { runCommand } from '../helpers/clients.js';
import { cosignManifest, createAttestationLayer, generateKey, type OciArtifact, type TestKey } from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { cleanTrivyReport, scanPredicate, trivyReport, VULN_PREDICATE, vulnFixture } from '../helpers/vuln-reports.js';

/**
 * The vulnerability gate end to end: real Trivy and Grype reports and OpenVEX documents (test/fixtures/vuln),
 * wrapped in cosign vulnerability predicates, signed with throwaway keys as `.att` layers, pushed to a real
 * distribution registry and pulled through the proxy by skopeo and plain HTTP.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const VULN = VULN_PREDICATE;
const OPENVEX = 'https://openvex.dev/ns/v0.2.0';
const ADMIN = 'admin-token-for-vulnerability-tests';
const DAY = 86_400_000;
const data = vulnFixture;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const cleanReport = cleanTrivyReport;
const vexDocument = (id: string, product: string) => ({
  '@context': OPENVEX, '@id': 'https://acme.example/vex/1', author: 'Acme Security', timestamp: new Date().toISOString(), version: 1,
  statements: [{ vulnerability: { name: id }, products: [{ '@id': product }], status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path' }],
});

const POLICIES = [{
  name: 'acme',
  match: [`${UPSTREAM}/acme/*`],
  mode: 'enforce',
  vulnerabilities: {
    scans: { signedBy: { anyOf: [{ key: 'acme-scanner' }] }, maxAge: '7d' },
    vex: { signedBy: { anyOf: [{ key: 'acme-security' }] } },
    deny: { severity: 'critical', knownExploited: true },
  },
}, {
  // What the block cannot say, as a condition: no critical finding that has a fix.
  name: 'fixed-criticals',
  match: [`${UPSTREAM}/cel/*`],
  mode: 'enforce',
  vulnerabilities: { scans: { signedBy: { anyOf: [{ key: 'acme-scanner' }] } } },
  condition: "!vulnerabilities.findings.exists(f, f.severity == 'critical' && has(f.fixedVersion)) && vulnerabilities.scanner == 'trivy'",
}];

describe.skipIf(skip)('vulnerabilities at the gate', () => {
  let registry: Registry;
  let proxy: Proxy;
  let scanner: TestKey;
  let security: TestKey;
  let stranger: TestKey;
  const images: Record<string, PushedImage> = {};

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  async function image(repo: string, atts: Array<{ predicateType: string; predicate: unknown; signer: TestKey }>): Promise<void> {
    images[repo] = await pushImage(registry.url, repo, '1', { layers: 1 });
    if (atts.length === 0) return;
    const digest = images[repo]!.digest;
    await push(cosignManifest(digest, atts.map((a) => createAttestationLayer({ digest, ...a })), 'att'), repo);
  }
  const getManifest = (repo: string) => fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  async function denial(repo: string): Promise<string> {
    const error = await expectOciError(await getManifest(repo), 403, 'DENIED');
    const message = String(error.message);
    expect(message).toContain('portcullis: policy "acme": ');
    return message;
  }
  async function expectServed(repo: string): Promise<void> {
    const res = await getManifest(repo);
    expect(res.status, `${repo}: ${await res.clone().text()}`).toBe(200);
    await res.arrayBuffer();
  }
  const api = (path: string, body: unknown) =>
    fetch(`${proxy.url}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const rows = (where: string, ...params: unknown[]) => auditRows(join(proxy.dataDir, 'portcullis.db'), where, ...params) as unknown as Array<Record<string, unknown>>;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    scanner = generateKey('ecdsa-p256');
    security = generateKey('ecdsa-p256');
    stranger = generateKey('ecdsa-p256');
    const dataDir = await tempDir('proxy');
    const kevFile = join(dataDir, 'known_exploited_vulnerabilities.json');
    await writeFile(kevFile, JSON.stringify({ title: 'CISA Catalog of Known Exploited Vulnerabilities', catalogVersion: '2026.01.01', count: 1, vulnerabilities: [{ cveID: 'CVE-2014-3577', vendorProject: 'Apache', product: 'HttpClient', dateAdded: '2026-01-01' }] }));

    await image('acme/clean', [{ predicateType: VULN, predicate: scanPredicate(cleanReport()), signer: scanner }]);
    await image('acme/critical', [{ predicateType: VULN, predicate: scanPredicate(trivyReport()), signer: scanner }]);
    await image('acme/unscanned', []);
    await image('acme/wrong-signer', [{ predicateType: VULN, predicate: scanPredicate(cleanReport()), signer: stranger }]);
    await image('acme/stale', [{ predicateType: VULN, predicate: scanPredicate(cleanReport(), 9 * DAY), signer: scanner }]);
    await image('acme/kev', [{ predicateType: VULN, predicate: scanPredicate(data('grype-ghsa.json'), DAY, 'pkg:github/anchore/grype@v0.65.1'), signer: scanner }]);
    await image('acme/malformed', [{ predicateType: VULN, predicate: scanPredicate({ Results: 'not a report' }), signer: scanner }]);
    await image('cel/clean', [{ predicateType: VULN, predicate: scanPredicate(cleanReport()), signer: scanner }]);
    await image('cel/critical', [{ predicateType: VULN, predicate: scanPredicate(trivyReport()), signer: scanner }]);
    // VEX names the image by a purl at its digest; only the acme-security key's VEX counts.
    for (const [repo, signer] of [['acme/vex-trusted', security], ['acme/vex-stranger', stranger]] as const) {
      images[repo] = await pushImage(registry.url, repo, '1', { layers: 1 });
      const digest = images[repo]!.digest;
      const product = `pkg:oci/${repo.split('/').pop()}@${encodeURIComponent(digest)}`;
      await push(cosignManifest(digest, [
        createAttestationLayer({ digest, predicateType: VULN, predicate: scanPredicate(trivyReport()), signer: scanner }),
        createAttestationLayer({ digest, predicateType: OPENVEX, predicate: vexDocument('CVE-2019-18224', product), signer }),
      ], 'att'), repo);
    }

    // A 20 MiB Trivy report (statements were refused past 2 MiB before): the critical finding across many packages.
    const big = trivyReport();
    const critical = big.Results[0].Vulnerabilities.find((v: { Severity: string }) => v.Severity === 'CRITICAL');
    const copies = Math.ceil((20 * 1024 * 1024) / JSON.stringify(critical).length) + 500;
    big.Results[0].Vulnerabilities = Array.from({ length: copies }, (_, i) => ({ ...critical, PkgName: `pkg-${i}`, PkgIdentifier: { PURL: `pkg:deb/debian/pkg-${i}@1` } }));
    await image('acme/big', [{ predicateType: VULN, predicate: scanPredicate(big), signer: scanner }]);

    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: {
        trust: { knownExploitedFile: kevFile, keys: { 'acme-scanner': scanner.publicKeyPem, 'acme-security': security.publicKeyPem, stranger: stranger.publicKeyPem } },
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: sha(ADMIN) }] },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('skopeo copies an image with a clean signed scan and is refused one with a critical finding, named', async () => {
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/acme/clean:1`, await tempDir('copy'));
    const err = await skopeoCopy(`${proxy.host}/${UPSTREAM}/acme/critical:1`, await tempDir('copy')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message.replace(/\\"/g, '"')).toContain(
      'portcullis: policy "acme": vulnerabilities: 1 critical (CVE-2019-18224 in libidn2-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)',
    );
  }, 120_000);

  it('records the judged scan, its counts and the blocking ids in the audit event', async () => {
    await denial('acme/critical');
    const row = rows("kind = 'pull.manifest' AND repository = ? AND status = 403", `${UPSTREAM}/acme/critical`).pop()!;
    const evidence = JSON.parse(String(row.evidence)).vulnerabilities;
    expect(evidence.blocking).toEqual(['CVE-2019-18224']);
    expect(evidence.scans).toEqual([expect.objectContaining({ signer: 'key "acme-scanner"', scanner: { name: 'trivy', version: 'dev' }, scanTimeSource: 'predicate', counts: { low: 1, critical: 1 } })]);
    expect(evidence.scans[0].statementDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('policy evaluate shows the same evidence without serving anything', async () => {
    const res = await api('/policy/evaluate', { image: `${UPSTREAM}/acme/critical:1` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { decision: string; reasons: string[]; evidence: { vulnerabilities: { blocking: string[]; scans: unknown[] } } };
    expect(body.decision).toBe('deny');
    expect(body.reasons).toContain('vulnerabilities: 1 critical (CVE-2019-18224 in libidn2-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    expect(body.evidence.vulnerabilities.blocking).toEqual(['CVE-2019-18224']);
    expect(body.evidence.vulnerabilities.scans).toHaveLength(1);
  });

  it('denies an unscanned image, a scan by another signer, a stale scan and a malformed report, saying which', async () => {
    expect(await denial('acme/unscanned')).toContain('vulnerabilities: no signed scan by key "acme-scanner"');
    expect(await denial('acme/wrong-signer')).toContain('no signed scan by key "acme-scanner" (scans signed by key "stranger" are not trusted)');
    expect(await denial('acme/stale')).toContain('vulnerabilities: scan is 9 days old (scans.maxAge 7d)');
    expect(await denial('acme/malformed')).toMatch(/no signed scan by key "acme-scanner"; the signed scan cannot be read: MALFORMED: .*vuln\/v1 report: predicate.scanner.result is neither a Trivy report/);
  });

  it('judges a 20 MiB signed report, read off the event loop, and keeps answering meanwhile', async () => {
    const pull = denial('acme/big');
    // While the report is read, other requests are answered.
    const started = performance.now();
    const ping = await fetch(`${proxy.url}/v2/`);
    await ping.arrayBuffer();
    const pingMs = performance.now() - started;
    const message = await pull;
    // Each vulnerability is named once, however many packages it is found in.
    expect(message).toContain('vulnerabilities: 1 critical (CVE-2019-18224 in pkg-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    const row = rows("kind = 'pull.manifest' AND repository = ? AND status = 403", `${UPSTREAM}/acme/big`).pop()!;
    const scan = JSON.parse(String(row.evidence)).vulnerabilities.scans[0];
    expect(scan.counts.critical).toBeGreaterThan(9_000);
    expect(pingMs).toBeLessThan(5_000);
  }, 120_000);

  it('gives conditions the judged findings as the CEL variable vulnerabilities', async () => {
    await expectServed('cel/clean');
    const error = await expectOciError(await getManifest('cel/critical'), 403, 'DENIED');
    expect(String(error.message)).toContain('portcullis: policy "fixed-criticals": condition "!vulnerabilities.findings.exists(');
  });

  it('denies a known-exploited finding at medium severity, through its GHSA alias too', async () => {
    expect(await denial('acme/kev')).toContain(
      'vulnerabilities: 2 known exploited (GHSA-cfh5-3ghh-wfjx in httpclient 4.1.1, fixed in 4.3.5; CVE-2014-3577 in httpclient 4.1.1)',
    );
  });

  it('serves an image whose finding the trusted signer declares not_affected, and ignores anyone else\'s VEX', async () => {
    await expectServed('acme/vex-trusted');
    const allowed = rows("kind = 'pull.manifest' AND repository = ? AND status = 200", `${UPSTREAM}/acme/vex-trusted`).pop()!;
    expect(JSON.parse(String(allowed.evidence)).vulnerabilities.suppressed).toEqual([
      expect.objectContaining({ id: 'CVE-2019-18224', by: 'vex', author: 'Acme Security', signer: 'key "acme-security"', justification: 'vulnerable_code_not_in_execute_path' }),
    ]);
    expect(await denial('acme/vex-stranger')).toContain('CVE-2019-18224');
    const denied = rows("kind = 'pull.manifest' AND repository = ? AND status = 403", `${UPSTREAM}/acme/vex-stranger`).pop()!;
    expect(JSON.parse(String(denied.evidence)).vulnerabilities.vexIgnored).toEqual(['VEX by key "stranger" ignored: not a vex.signedBy signer']);
  });

  it('answers who pulled images whose judged scan lists a CVE, with the decision each gets now', async () => {
    const impact = async (id: string) => {
      const res = await fetch(`${proxy.url}/api/v1/vulnerabilities/${id}/impact`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { digests: Array<{ repository: string; digest: string; decision: string; pullCount: number; findings: Array<{ id: string }> }> }).digests;
    };
    const critical = await impact('CVE-2019-18224');
    const repos = critical.map((d) => d.repository.slice(UPSTREAM.length + 1)).sort();
    // Not the image whose trusted VEX says not_affected, nor the clean one.
    expect(repos).toEqual(['acme/big', 'acme/critical', 'acme/vex-stranger', 'cel/critical']);
    const one = critical.find((d) => d.repository.endsWith('/acme/critical'))!;
    expect(one).toMatchObject({ digest: images['acme/critical']!.digest, decision: 'deny' });
    expect(critical.find((d) => d.repository.endsWith('/cel/critical'))!.decision).toBe('deny');
    // A CVE is found through the GHSA that names it.
    expect((await impact('CVE-2014-3577')).map((d) => [d.repository.slice(UPSTREAM.length + 1), d.findings.map((f) => f.id).sort()])).toEqual([
      ['acme/kev', ['CVE-2014-3577', 'GHSA-cfh5-3ghh-wfjx']],
    ]);
    expect((await fetch(`${proxy.url}/api/v1/vulnerabilities/not%20an%20id/impact`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(400);

    // The CLI answers the same from the database and the config.
    const out = await runCommand(process.execPath, [CLI, 'vulnerability', 'impact', 'CVE-2014-3577', '--config', proxy.configPath]);
    const report = JSON.parse(out.stdout) as { truncated: boolean; digests: Array<{ repository: string; decision: string; pullCount: number }> };
    expect(report.truncated).toBe(false);
    expect(report.digests).toEqual([expect.objectContaining({ repository: `${UPSTREAM}/acme/kev`, decision: 'deny', pullCount: 0 })]);
  }, 60_000);

  it('suppresses one CVE under an exception for that image until it expires', async () => {
    const bad = await api('/exceptions', { match: `${UPSTREAM}/acme/critical`, until: '1h', reason: 'x', vulnerability: 'not an id' });
    expect(bad.status).toBe(400);
    const until = new Date(Date.now() + 5_000).toISOString();
    const res = await api('/exceptions', { match: `${UPSTREAM}/acme/critical@${images['acme/critical']!.digest}`, until, reason: 'INC-77 patched at runtime', vulnerability: 'CVE-2019-18224' });
    expect(res.status).toBe(201);
    const exception = (await res.json()) as { id: number; vulnerability: string };
    expect(exception.vulnerability).toBe('CVE-2019-18224');
    await expectServed('acme/critical');
    const served = rows("kind = 'pull.manifest' AND repository = ? AND status = 200", `${UPSTREAM}/acme/critical`).pop()!;
    expect(JSON.parse(String(served.evidence)).vulnerabilities.suppressed).toEqual([{ id: 'CVE-2019-18224', by: 'exception', exception: exception.id, until }]);
    expect(rows("kind = 'exception.create'").map((r) => JSON.parse(String(r.reasons))[0])).toContainEqual(expect.stringContaining('for CVE-2019-18224'));
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(until) - Date.now()) + 500));
    expect(await denial('acme/critical')).toContain('CVE-2019-18224');
  }, 60_000);

  it('stops counting a revoked scanner\'s scans at once', async () => {
    await expectServed('acme/clean');
    const res = await api('/trust/revocations', { key: 'acme-scanner', reason: 'scanner key leaked' });
    expect(res.status).toBe(201);
    expect(await denial('acme/clean')).toMatch(/vulnerabilities: no signed scan by key "acme-scanner"; rejected: REVOKED: attestation by key "acme-scanner" is revoked/);
  });
});
