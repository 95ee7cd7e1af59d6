import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COSIGN_VULN, IN_TOTO_VULNS, reduceReport } from '../../../src/vuln/report/reduce.js';
import { ReportError } from '../../../src/vuln/report/types.js';

const data = (name: string) => JSON.parse(readFileSync(join(__dirname, '../../fixtures/vuln', name), 'utf8'));
const cosignPredicate = (result: unknown, finished = '2026-01-02T03:04:05Z') => ({
  invocation: { uri: 'https://ci.example/run/1' },
  scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', version: '0.58.0', db: { uri: 'pkg:oci/trivy-db', version: '2026-01-01T00:00:00Z' }, result },
  metadata: { scanStartedOn: finished, scanFinishedOn: finished },
});

describe('scan and VEX reports reduce to compact facts', () => {
  it('reads a Trivy report inside a cosign vulnerability predicate', () => {
    const facts = reduceReport(COSIGN_VULN, cosignPredicate(data('trivy-debian-buster.json')));
    if (!facts || !('scan' in facts)) throw new Error('expected a scan');
    expect(facts.scan.format).toBe('trivy');
    expect(facts.scan.scanner).toEqual({ name: 'trivy', version: 'dev' });
    expect(facts.scan.scanFinishedOn).toBe('2026-01-02T03:04:05.000Z');
    expect(facts.scan.dbUpdatedAt).toBe('2026-01-01T00:00:00.000Z');
    const critical = facts.scan.findings.find((f) => f.id === 'CVE-2019-18224');
    expect(critical).toMatchObject({
      package: 'pkg:deb/debian/libidn2-0@2.0.5-1?arch=amd64&distro=debian-10.1',
      installedVersion: '2.0.5-1',
      fixedVersion: '2.0.5-1+deb10u1',
      severity: 'critical',
      aliases: ['DSA-4613-1'],
    });
    expect(critical!.cvss).toBeGreaterThan(9);
    expect(critical!.publishedDate).toMatch(/^2019-/);
    const low = facts.scan.findings.find((f) => f.id === 'CVE-2019-18276');
    expect(low).toMatchObject({ severity: 'low' });
    expect(low!.fixedVersion).toBeUndefined();
  });

  it('reads a Grype report, its related CVE as an alias', () => {
    const facts = reduceReport(COSIGN_VULN, { ...cosignPredicate(data('grype-ghsa.json')), scanner: { uri: 'pkg:github/anchore/grype@v0.65.1', result: data('grype-ghsa.json') } });
    if (!facts || !('scan' in facts)) throw new Error('expected a scan');
    expect(facts.scan).toMatchObject({ format: 'grype', scanner: { name: 'grype', version: '0.65.1' }, dbUpdatedAt: '2023-08-31T01:24:19.000Z' });
    expect(facts.scan.findings).toEqual([
      { id: 'GHSA-cfh5-3ghh-wfjx', aliases: ['CVE-2014-3577'], package: 'pkg:maven/org.apache.httpcomponents/httpclient@4.1.1', installedVersion: '4.1.1', fixedVersion: '4.3.5', severity: 'medium', cvss: 5.8 },
      { id: 'CVE-2014-3577', aliases: [], package: 'pkg:maven/org.apache.httpcomponents/httpclient@4.1.1', installedVersion: '4.1.1', severity: 'medium', cvss: 5.8 },
    ]);
  });

  it('reads an in-toto vulns v0.1 predicate', () => {
    const facts = reduceReport(IN_TOTO_VULNS, {
      scanner: {
        uri: 'pkg:github/aquasecurity/trivy@244fd47e07d1004f0aed9',
        version: '0.19.2',
        db: { uri: 'pkg:github/aquasecurity/trivy-db/commit/4c76bb580b2736d67751410fa4ab66d2b6b9b27d', version: 'v1-2021080612' },
        result: [{ id: 'CVE-2021-3121', severity: [{ method: 'nvd', score: 'medium' }, { method: 'cvss_score', score: '7.5' }] }],
      },
      metadata: { scanStartedOn: '2022-04-12T00:00:00Z', scanFinishedOn: '2022-04-12T00:05:00Z' },
    });
    expect(facts).toEqual({ scan: { format: 'in-toto', scanner: { name: 'trivy', version: '0.19.2' }, scanFinishedOn: '2022-04-12T00:05:00.000Z', findings: [
      { id: 'CVE-2021-3121', aliases: [], package: '', installedVersion: '', severity: 'medium', cvss: 7.5 },
    ] } });
  });

  it('reads OpenVEX v0.2.0 and the earlier v0.0.1 form', () => {
    const v2 = reduceReport('https://openvex.dev/ns/v0.2.0', data('openvex-v0.2.0.json'));
    if (!v2 || !('vex' in v2)) throw new Error('expected VEX');
    expect(v2.vex.author).toBe('The OpenVEX Project <openvex@openssf.org>');
    expect(v2.vex.statements).toHaveLength(5);
    expect(v2.vex.statements[3]).toEqual({
      vulnerability: 'CVE-2023-3446',
      aliases: [],
      products: ['pkg:oci/alpine@sha256%3A124c7d2707904eea7431fffe91522a01e5a861a624ee31d03372cc1d138a3126'],
      status: 'not_affected',
      justification: 'vulnerable_code_not_present',
      impactStatement: 'affected functions were removed before packaging',
      timestamp: new Date('2023-07-17T18:28:47.696004345-06:00').toISOString(),
    });
    const v1 = reduceReport('https://openvex.dev/ns', data('openvex-v0.0.1.json'));
    expect(v1).toMatchObject({ vex: { statements: [{ vulnerability: 'CVE-2023-12345', status: 'fixed', products: ['pkg:apk/wolfi/git@2.39.0-r1?arch=armv7', 'pkg:apk/wolfi/git@2.39.0-r1?arch=x86_64'] }] } });
  });

  it('refuses malformed reports with the reason', () => {
    const bad = (type: string, predicate: unknown) => () => reduceReport(type, predicate);
    expect(bad(COSIGN_VULN, cosignPredicate({ foo: 1 }))).toThrow(/neither a Trivy report .* nor a Grype report/);
    expect(bad(COSIGN_VULN, cosignPredicate({ SchemaVersion: 2, Results: 'x' }))).toThrow(ReportError);
    expect(bad(COSIGN_VULN, { scanner: 'x' })).toThrow(/predicate.scanner is not an object/);
    expect(bad(COSIGN_VULN, null)).toThrow(/not an object/);
    expect(bad('https://openvex.dev/ns/v0.2.0', { statements: [{ vulnerability: { name: 'CVE-1' }, status: 'not_affected', products: [] }] })).toThrow(/without a justification/);
    expect(bad('https://openvex.dev/ns/v0.2.0', { statements: [{ vulnerability: { name: 'CVE-1' }, status: 'maybe' }] })).toThrow(/status "maybe"/);
    expect(reduceReport('https://spdx.dev/Document', {})).toBeUndefined();
  });
});
