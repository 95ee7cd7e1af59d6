import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import type { PolicyRule, VulnerabilityView } from '../../../src/policy/types.js';
import type { Evidence } from '../../../src/verify/types.js';
import type { Digest } from '../../../src/oci/digest.js';

const evidence: Evidence = {
  subject: `sha256:${'a'.repeat(64)}` as Digest, signatures: [], attestations: [], rejected: [], collectedAt: '',
  image: { mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: {}, layers: [], config: { User: 'app', ExposedPorts: {}, Env: [], Entrypoint: [], Cmd: [], Labels: {}, WorkingDir: '', Volumes: {}, StopSignal: '' } },
};
const view: VulnerabilityView = {
  scanTime: '2026-01-01T00:00:00Z', scanner: 'trivy', suppressed: [{ id: 'CVE-2019-18276', by: 'vex' }],
  findings: [{ id: 'CVE-2019-18224', aliases: [], package: 'pkg:deb/debian/libidn2-0@2.0.5-1', installedVersion: '2.0.5-1', fixedVersion: '2.0.5-1+deb10u1', severity: 'critical', cvss: 9.8, publishedDate: '2019-10-22T16:15:00Z' }],
};
const judge = (condition: string, v: VulnerabilityView | undefined = view) =>
  evaluateRule({ name: 'r', match: ['**'], mode: 'enforce', condition, vulnerabilities: { scans: { signedBy: { anyOf: [{ key: 'k' }] } } } } as PolicyRule, evidence, { now: new Date('2026-01-02T00:00:00Z'), repository: 'docker.io/acme/app', tag: '1', vulnerabilities: v });

describe('the CEL variable vulnerabilities', () => {
  it('holds the judged findings, their optional fields behind has(), and what was suppressed', () => {
    expect(judge("vulnerabilities.findings.exists(f, f.severity == 'critical' && has(f.fixedVersion) && f.cvss > 9.0)").reasons).toEqual([]);
    expect(judge("vulnerabilities.suppressed.exists(s, s.id == 'CVE-2019-18276' && s.by == 'vex')").reasons).toEqual([]);
    expect(judge("now - vulnerabilities.scanTime < duration('48h') && vulnerabilities.scanner == 'trivy'").reasons).toEqual([]);
    expect(judge("vulnerabilities.findings.all(f, timestamp('2019-01-01T00:00:00Z') < f.publishedDate)").reasons).toEqual([]);
  });

  it('says why a condition over it is false, without failing on values it cannot show', () => {
    expect(judge("!vulnerabilities.findings.exists(f, f.severity == 'critical')").reasons).toEqual([
      'condition "!vulnerabilities.findings.exists(f, f.severity == \'critical\')" is false (vulnerabilities.findings is (not shown))',
    ]);
    expect(judge('size(vulnerabilities.findings) == 0').reasons).toEqual(['condition "size(vulnerabilities.findings) == 0" is false (size(vulnerabilities.findings) is 1)']);
  });
});
