import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import { validatePolicyRules } from '../../../src/policy/validate.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence, ImageConfigFacts, VerifiedAttestation } from '../../../src/verify/types.js';
import { reduceReport } from '../../../src/vuln/report/reduce.js';
import { judgeVulnerabilities } from '../../../src/vuln/judge.js';

/** The recipes in the README load as written and judge images as the README says. */
const README = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../README.md'), 'utf8');
const recipes = README.slice(README.indexOf('### Recipes'), README.indexOf('\n## ', README.indexOf('### Recipes')));
const blocks = [...recipes.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(`{${m[1]!}}`) as Partial<PolicyRule>);
const [notRoot, noSsh, oneProcess, sbom, weeklyScan] = blocks as [Partial<PolicyRule>, Partial<PolicyRule>, Partial<PolicyRule>, Partial<PolicyRule>, Partial<PolicyRule>];

const NOW = new Date('2025-06-01T00:00:00Z');
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

function evidence(config: Partial<ImageConfigFacts> = {}, attestations: VerifiedAttestation[] = []): Evidence {
  return {
    subject: `sha256:${'a'.repeat(64)}` as Digest,
    signatures: [],
    attestations,
    rejected: [],
    collectedAt: NOW.toISOString(),
    image: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      annotations: {},
      layers: [],
      config: { User: 'app', ExposedPorts: {}, Env: [], Entrypoint: ['/app/server'], Cmd: [], Labels: {}, WorkingDir: '', Volumes: {}, StopSignal: '', ...config },
    },
  };
}

const rule = (recipe: Partial<PolicyRule>): PolicyRule => ({ name: 'recipe', match: ['**'], mode: 'enforce', ...recipe });
const outcome = (recipe: Partial<PolicyRule>, ev: Evidence) => evaluateRule(rule(recipe), ev, { now: NOW, repository: 'docker.io/acme/app', tag: '1' }).outcome;

describe('README recipes', () => {
  it('are five, and each loads as a rule', () => {
    expect(blocks).toHaveLength(5);
    const keys = new Set(['acme-release']);
    expect(validatePolicyRules(blocks.map((b, i) => ({ ...rule(b), name: `r${i}` })), keys).errors).toEqual([]);
  });

  it('not running as root', () => {
    for (const user of ['', 'root', '0', 'root:root', '0:0']) expect(outcome(notRoot, evidence({ User: user })), user).toBe('deny');
    for (const user of ['app', '1000', '1000:1000', 'nobody']) expect(outcome(notRoot, evidence({ User: user })), user).toBe('allow');
  });

  it('no SSH server', () => {
    expect(outcome(noSsh, evidence({ ExposedPorts: { '22/tcp': {} } }))).toBe('deny');
    expect(outcome(noSsh, evidence({ Entrypoint: ['/usr/sbin/sshd'], Cmd: ['-D'] }))).toBe('deny');
    expect(outcome(noSsh, evidence({ ExposedPorts: { '2222/tcp': {}, '80/tcp': {} }, Cmd: ['sshd-keygen-helper'] }))).toBe('allow');
  });

  it('one process per container', () => {
    expect(outcome(oneProcess, evidence({ Entrypoint: ['/usr/bin/supervisord'], Cmd: ['-n'] }))).toBe('deny');
    expect(outcome(oneProcess, evidence({ Entrypoint: ['/init'] }))).toBe('deny');
    expect(outcome(oneProcess, evidence({ Entrypoint: [], Cmd: ['runsvdir', '/etc/service'] }))).toBe('deny');
    expect(outcome(oneProcess, evidence({ Entrypoint: ['/usr/bin/tini', '--'], Cmd: ['/app/server'] }))).toBe('allow');
  });

  it('a required SBOM and a weekly vulnerability scan', () => {
    const att = (predicateType: string, predicate: unknown, signer: VerifiedAttestation['signer']): VerifiedAttestation => ({
      source: 'referrer', artifactDigest: 'sha256:r', signer, predicateType, statementDigest: 'sha256:s', predicate,
    });
    const spdx = att('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, { type: 'key', key: 'acme-release' });
    expect(outcome(sbom, evidence({}, [spdx]))).toBe('allow');
    expect(outcome(sbom, evidence({}, []))).toBe('deny');

    const scanner = { type: 'keyless' as const, issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/acme/app/.github/workflows/scan.yml@refs/heads/main', roots: ['default'], extensions: {} };
    // A real Trivy report: CVE-2019-18224 is critical with a fix, CVE-2019-18276 low without one.
    const report = () => JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/vuln/trivy-debian-buster.json'), 'utf8'));
    const scan = (daysAgo: number, edit: (r: any) => void = () => {}): VerifiedAttestation => {
      const result = report();
      edit(result.Results[0].Vulnerabilities[1]);
      const predicate = { scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', result }, metadata: { scanFinishedOn: new Date(NOW.getTime() - daysAgo * 86_400_000).toISOString() } };
      return { ...att(VULN, undefined, scanner), report: reduceReport(VULN, predicate)! };
    };
    const judged = (ev: Evidence) =>
      judgeVulnerabilities(weeklyScan.vulnerabilities!, ev, { now: NOW, repository: 'docker.io/acme/app', digests: [ev.subject], exceptions: [], knownExploited: { ids: new Set() } }).reason;
    expect(judged(evidence({}, [scan(2, (v) => (v.Severity = 'HIGH'))]))).toBeUndefined();
    expect(judged(evidence({}, [scan(2, (v) => delete v.FixedVersion)]))).toBeUndefined();
    expect(judged(evidence({}, [scan(8, (v) => (v.Severity = 'HIGH'))]))).toBe('vulnerabilities: scan is 8 days old (scans.maxAge 7d)');
    expect(judged(evidence({}, [scan(2)]))).toBe('vulnerabilities: 1 critical (CVE-2019-18224 in libidn2-0 2.0.5-1, fixed in 2.0.5-1+deb10u1)');
  });
});
