import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The pinned real scanner reports (test/fixtures/vuln, sources and licences in its README), shaped for tests. */
export const VULN_PREDICATE = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const DAY = 86_400_000;

export function vulnFixture(name: string): any {
  return JSON.parse(readFileSync(join(__dirname, '../fixtures/vuln', name), 'utf8'));
}

/** Trivy's report of a Debian image: one critical finding, one low. */
export const trivyReport = (): any => vulnFixture('trivy-debian-buster.json');

/** The same report with its critical finding fixed: only a low one is left. */
export function cleanTrivyReport(): any {
  const r = trivyReport();
  r.Results[0].Vulnerabilities = r.Results[0].Vulnerabilities.filter((v: { Severity: string }) => v.Severity !== 'CRITICAL');
  return r;
}

/** cosign's vulnerability predicate around a scanner's report, finished `finishedAgo` ms ago. */
export function scanPredicate(result: unknown, finishedAgo = DAY, uri = 'pkg:github/aquasecurity/trivy@v0.58.0'): Record<string, unknown> {
  const at = new Date(Date.now() - finishedAgo).toISOString();
  return { invocation: { uri: 'https://ci.example/run/1' }, scanner: { uri, version: '0.58.0', result }, metadata: { scanStartedOn: at, scanFinishedOn: at } };
}
