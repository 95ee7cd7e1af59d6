import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COSIGN_VULN, reduceReport } from '../../../src/vuln/report/reduce.js';
import { judgeVulnerabilities, type JudgeContext } from '../../../src/vuln/judge.js';
import type { VulnerabilityRequirement } from '../../../src/policy/types.js';
import type { PolicyException } from '../../../src/policy/exception.js';
import type { Evidence, VerifiedAttestation } from '../../../src/verify/types.js';
import type { Digest } from '../../../src/oci/digest.js';

const data = (name: string) => JSON.parse(readFileSync(join(__dirname, '../../fixtures/vuln', name), 'utf8'));
const NOW = new Date('2026-03-01T00:00:00Z');
const DAY = 86_400_000;
const DIGEST = `sha256:${'a'.repeat(64)}` as Digest;
const INDEX = `sha256:${'b'.repeat(64)}`;
const REPO = 'registry.example/acme/app';

function scan(report: unknown, key: string, integratedAgo = DAY, uri = 'pkg:github/aquasecurity/trivy@v0.58.0'): VerifiedAttestation {
  return {
    source: 'att-tag', artifactDigest: 'sha256:att', signer: { type: 'key', key }, predicateType: COSIGN_VULN, statementDigest: `sha256:${key}${integratedAgo}`,
    tlog: { logIndex: 1, integratedTime: new Date(NOW.getTime() - integratedAgo).toISOString(), logId: 'x' },
    report: reduceReport(COSIGN_VULN, { scanner: { uri, result: report }, metadata: { scanFinishedOn: '2020-01-01T00:00:00Z' } })!,
  };
}
function vex(doc: unknown, key: string): VerifiedAttestation {
  return { source: 'att-tag', artifactDigest: 'sha256:vex', signer: { type: 'key', key }, predicateType: 'https://openvex.dev/ns/v0.2.0', statementDigest: 'sha256:v', report: reduceReport('https://openvex.dev/ns/v0.2.0', doc)! };
}
const evidence = (...attestations: VerifiedAttestation[]): Evidence => ({ subject: DIGEST, signatures: [], attestations, rejected: [], collectedAt: NOW.toISOString() });
const ctx = (o: Partial<JudgeContext> = {}): JudgeContext => ({ now: NOW, repository: REPO, digests: [DIGEST], exceptions: [], knownExploited: { ids: new Set() }, ...o });
const rule = (o: Partial<VulnerabilityRequirement> = {}): VulnerabilityRequirement => ({
  scans: { signedBy: { anyOf: [{ key: 'scanner' }] }, maxAge: '7d' },
  vex: { signedBy: { anyOf: [{ key: 'security' }] } },
  deny: { severity: 'critical' },
  ...o,
});
const trivy = () => data('trivy-debian-buster.json');
const grype = () => data('grype-ghsa.json');
const vexDoc = (id: string, product: string, status = 'not_affected', timestamp = '2026-02-01T00:00:00Z') => ({
  '@context': 'https://openvex.dev/ns/v0.2.0', author: 'Acme Security', timestamp,
  statements: [{ vulnerability: { name: id }, products: [{ '@id': product }], status, justification: 'vulnerable_code_not_in_execute_path' }],
});

describe('the vulnerability gate', () => {
  it('denies a critical finding, naming it with its package and fix', () => {
    const j = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner')), ctx());
    expect(j.reason).toBe('vulnerabilities: 1 critical (CVE-2019-18224 in libidn2-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    expect(j.evidence.blocking).toEqual(['CVE-2019-18224']);
    expect(j.evidence.scans).toEqual([expect.objectContaining({ signer: 'key "scanner"', scanTimeSource: 'tlog', counts: { low: 1, critical: 1 } })]);
  });

  it('counts only fixable findings with fixableOnly', () => {
    expect(judgeVulnerabilities(rule({ deny: { severity: 'low', fixableOnly: true } }), evidence(scan(trivy(), 'scanner')), ctx()).reason)
      .toBe('vulnerabilities: 1 critical (CVE-2019-18224 in libidn2-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
    expect(judgeVulnerabilities(rule({ deny: { severity: 'low' } }), evidence(scan(trivy(), 'scanner')), ctx()).reason)
      .toMatch(/1 critical .*, 1 low \(CVE-2019-18276 in bash 5.0-4\)$/);
  });

  it('denies a listed CVE when the scan names it by its GHSA', () => {
    const j = judgeVulnerabilities(rule({ deny: { ids: ['cve-2014-3577'] } }), evidence(scan(grype(), 'scanner', DAY, 'pkg:github/anchore/grype@v0.65.1')), ctx());
    expect(j.reason).toContain('vulnerabilities: 2 denied by id (GHSA-cfh5-3ghh-wfjx in httpclient 4.1.1, fixed in 4.3.5; CVE-2014-3577 in httpclient 4.1.1)');
    const byGhsa = judgeVulnerabilities(rule({ deny: { ids: ['GHSA-cfh5-3ghh-wfjx'] } }), evidence(scan(grype(), 'scanner')), ctx());
    expect(byGhsa.evidence.blocking).toEqual(['GHSA-cfh5-3ghh-wfjx']);
  });

  it('denies a known-exploited finding at medium severity; fails closed when the catalog is unreadable', () => {
    const r = rule({ deny: { severity: 'critical', knownExploited: true } });
    const j = judgeVulnerabilities(r, evidence(scan(grype(), 'scanner')), ctx({ knownExploited: { ids: new Set(['CVE-2014-3577']) } }));
    expect(j.reason).toBe('vulnerabilities: 2 known exploited (GHSA-cfh5-3ghh-wfjx in httpclient 4.1.1, fixed in 4.3.5; CVE-2014-3577 in httpclient 4.1.1)');
    expect(judgeVulnerabilities(r, evidence(scan(grype(), 'scanner')), ctx({ knownExploited: { error: 'kev.json: Unexpected token' } })).reason)
      .toBe('vulnerabilities: the known-exploited catalog cannot be read: kev.json: Unexpected token');
  });

  it('denies a stale scan, an unsigned scan and a scan by the wrong signer', () => {
    const clean = { ...trivy(), Results: [] };
    expect(judgeVulnerabilities(rule(), evidence(scan(clean, 'scanner', 9 * DAY)), ctx()).reason).toBe('vulnerabilities: scan is 9 days old (scans.maxAge 7d)');
    // A maxAge under a day says the age in the unit it is counted in.
    const hours = (maxAge: string) => rule({ scans: { signedBy: { anyOf: [{ key: 'scanner' }] }, maxAge } });
    expect(judgeVulnerabilities(hours('12h'), evidence(scan(clean, 'scanner', 13.5 * 3_600_000)), ctx()).reason).toBe('vulnerabilities: scan is 13 hours old (scans.maxAge 12h)');
    expect(judgeVulnerabilities(hours('30m'), evidence(scan(clean, 'scanner', 61_000)), ctx()).reason).toBeUndefined();
    expect(judgeVulnerabilities(hours('30s'), evidence(scan(clean, 'scanner', 61_000)), ctx()).reason).toBe('vulnerabilities: scan is 1 minute old (scans.maxAge 30s)');
    expect(judgeVulnerabilities(rule(), evidence(), ctx()).reason).toBe('vulnerabilities: no signed scan by key "scanner"');
    expect(judgeVulnerabilities(rule(), evidence(scan(clean, 'stranger')), ctx()).reason)
      .toBe('vulnerabilities: no signed scan by key "scanner" (scans signed by key "stranger" are not trusted)');
    expect(judgeVulnerabilities(rule(), evidence(scan(clean, 'scanner')), ctx()).reason).toBeUndefined();
  });

  it('judges the newest scan per scanner', () => {
    const older = scan(trivy(), 'scanner', 3 * DAY);
    const newer = scan({ ...trivy(), Results: [] }, 'scanner', DAY);
    expect(judgeVulnerabilities(rule(), evidence(older, newer), ctx()).reason).toBeUndefined();
  });

  it('lets a trusted not_affected VEX statement suppress a finding; ignores other signers and other products', () => {
    const product = `pkg:oci/app@${encodeURIComponent(DIGEST)}`;
    const trusted = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner'), vex(vexDoc('CVE-2019-18224', product), 'security')), ctx());
    expect(trusted.reason).toBeUndefined();
    expect(trusted.evidence.suppressed).toEqual([{ id: 'CVE-2019-18224', by: 'vex', author: 'Acme Security', signer: 'key "security"', status: 'not_affected', timestamp: '2026-02-01T00:00:00.000Z', justification: 'vulnerable_code_not_in_execute_path' }]);
    const other = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner'), vex(vexDoc('CVE-2019-18224', product), 'stranger')), ctx());
    expect(other.reason).toContain('CVE-2019-18224');
    expect(other.evidence.vexIgnored).toEqual(['VEX by key "stranger" ignored: not a vex.signedBy signer']);
    const elsewhere = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner'), vex(vexDoc('CVE-2019-18224', `pkg:oci/app@${encodeURIComponent(INDEX)}`), 'security')), ctx());
    expect(elsewhere.reason).toContain('CVE-2019-18224');
    const viaIndex = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner'), vex(vexDoc('CVE-2019-18224', INDEX), 'security')), ctx({ digests: [DIGEST, INDEX] }));
    expect(viaIndex.reason).toBeUndefined();
    const newerAffected = vex({ ...vexDoc('CVE-2019-18224', DIGEST, 'affected', '2026-02-02T00:00:00Z'), statements: [{ vulnerability: { name: 'CVE-2019-18224' }, products: [DIGEST], status: 'affected' }] }, 'security');
    expect(judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner'), vex(vexDoc('CVE-2019-18224', DIGEST), 'security'), newerAffected), ctx()).reason).toContain('CVE-2019-18224');
  });

  it('suppresses one CVE under an exception until it expires', () => {
    const exception: PolicyException = { id: 7, repository: REPO, digest: null, until: new Date(NOW.getTime() + DAY).toISOString(), reason: 'patched in place', author: 'ops', time: NOW.toISOString(), coverDenyRule: false, vulnerability: 'CVE-2019-18224' };
    const j = judgeVulnerabilities(rule({ deny: { severity: 'low' } }), evidence(scan(trivy(), 'scanner')), ctx({ exceptions: [exception] }));
    expect(j.reason).toBe('vulnerabilities: 1 low (CVE-2019-18276 in bash 5.0-4)');
    expect(j.evidence.suppressed).toEqual([{ id: 'CVE-2019-18224', by: 'exception', exception: 7, until: exception.until }]);
    const later = judgeVulnerabilities(rule(), evidence(scan(trivy(), 'scanner', DAY)), ctx({ exceptions: [exception], now: new Date(NOW.getTime() + 2 * DAY) }));
    expect(later.reason).toContain('CVE-2019-18224');
  });

  it('does not deny a finding published within the grace period', () => {
    const report = trivy();
    report.Results[0].Vulnerabilities[1].PublishedDate = new Date(NOW.getTime() - 24 * 3_600_000).toISOString();
    const j = judgeVulnerabilities(rule({ gracePeriod: '72h' }), evidence(scan(report, 'scanner')), ctx());
    expect(j.reason).toBeUndefined();
    expect(j.evidence.inGracePeriod).toEqual(['CVE-2019-18224']);
    expect(judgeVulnerabilities(rule({ gracePeriod: '12h' }), evidence(scan(report, 'scanner')), ctx()).reason).toContain('CVE-2019-18224');
  });
});
