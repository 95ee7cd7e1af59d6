import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence, ImageConfigFacts, ImageFacts, VerifiedAttestation, VerifiedSignature } from '../../../src/verify/types.js';

const NOW = new Date('2025-06-01T00:00:00Z');
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
const SPDX = 'https://spdx.dev/Document';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function config(over: Partial<ImageConfigFacts> = {}): ImageConfigFacts {
  return { User: 'app', ExposedPorts: { '8080/tcp': {} }, Env: ['PATH=/usr/bin'], Entrypoint: ['/app/server'], Cmd: [], Labels: {}, WorkingDir: '/app', Volumes: {}, StopSignal: '', ...over };
}

function image(over: Partial<ImageFacts> = {}): ImageFacts {
  return {
    mediaType: OCI_MANIFEST,
    annotations: {},
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 1234, digest: `sha256:${'b'.repeat(64)}` }],
    config: config(),
    created: daysAgo(3),
    platform: { os: 'linux', architecture: 'amd64', variant: '' },
    ...over,
  };
}

const signature: VerifiedSignature = { source: 'sig-tag', artifactDigest: 'sha256:sig', signer: { type: 'key', key: 'acme-release' }, tlog: { logIndex: 9, integratedTime: daysAgo(2), logId: 'c0d2' } };

function attestation(predicateType: string, predicate: unknown, key = 'acme-release'): VerifiedAttestation {
  return {
    source: 'att-tag',
    artifactDigest: 'sha256:att',
    signer: { type: 'key', key },
    predicateType,
    statementDigest: 'sha256:stmt',
    predicate,
    statement: { type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'image', digest: { sha256: 'a'.repeat(64) } }] },
  };
}

const sbom = attestation(SPDX, { spdxVersion: 'SPDX-2.3', packages: [{ name: 'openssl' }] });
const scan = (critical: number, finished = daysAgo(1)) =>
  attestation(VULN, { scanner: { uri: 'pkg:github/aquasecurity/trivy', result: { summary: { CRITICAL: critical, HIGH: 3 } } }, metadata: { scanFinishedOn: finished } }, 'acme-scanner');

function evidence(parts: Partial<Evidence> = {}): Evidence {
  return {
    subject: `sha256:${'a'.repeat(64)}` as Digest,
    signatures: [signature],
    attestations: [sbom, scan(0)],
    rejected: [],
    collectedAt: NOW.toISOString(),
    image: image(),
    ...parts,
  };
}

/** The rule from the issue, verbatim. */
const ISSUE_RULE: PolicyRule = {
  name: 'acme',
  match: ['docker.io/acme/**'],
  mode: 'enforce',
  signatures: { anyOf: [{ key: 'acme-release' }] },
  attestations: [
    { name: 'sbom', predicateType: SPDX, signedBy: { anyOf: [{ key: 'acme-release' }] } },
    { name: 'vuln-scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'predicate.scanner.result.summary.CRITICAL == 0' },
  ],
  condition: "image.config.User != '' && image.config.User != 'root' && !('22/tcp' in image.config.ExposedPorts)",
};

const ctx = { now: NOW, repository: 'docker.io/acme/app', tag: '1.2' };
const judge = (ev: Evidence, rule: PolicyRule = ISSUE_RULE, extra: Partial<typeof ctx> & { parentVerdict?: 'allow' } = {}) => evaluateRule(rule, ev, { ...ctx, ...extra });

describe('evaluateRule: attestations and conditions', () => {
  it('allows a non-root image with a signed SBOM and a clean vulnerability scan, and records what met each entry', () => {
    const d = judge(evidence());
    expect(d).toMatchObject({ outcome: 'allow', reasons: [] });
    expect(d.evidence!.attestationsMet).toEqual([
      { name: 'sbom', predicateType: SPDX, statementDigest: 'sha256:stmt', signer: { key: 'acme-release' } },
      { name: 'vuln-scan', predicateType: VULN, statementDigest: 'sha256:stmt', signer: { key: 'acme-scanner' } },
    ]);
  });

  it('denies a root image, naming the part of the condition that failed and the value', () => {
    const d = judge(evidence({ image: image({ config: config({ User: 'root' }) }) }));
    expect(d.outcome).toBe('deny');
    expect(d.reasons).toEqual([
      `condition "image.config.User != '' && image.config.User != 'root' && !('22/tcp' in image.config.ExposedPorts)" is false at "image.config.User != "root"" (image.config.User is "root")`,
    ]);
    expect(judge(evidence({ image: image({ config: config({ User: '' }) }) })).reasons[0]).toMatch(/is false at "image.config.User != """ \(image.config.User is ""\)$/);
  });

  it('denies an image that exposes port 22, showing the ports', () => {
    const d = judge(evidence({ image: image({ config: config({ ExposedPorts: { '22/tcp': {}, '80/tcp': {} } }) }) }));
    expect(d.reasons).toEqual([expect.stringMatching(/is false at "!\("22\/tcp" in image\.config\.ExposedPorts\)" \(image\.config\.ExposedPorts is \{"22\/tcp": \{\}, "80\/tcp": \{\}\}\)$/)]);
  });

  it('denies a missing SBOM, naming the entry and the rejected artifacts', () => {
    const d = judge(evidence({ attestations: [scan(0)], rejected: [{ source: 'att-tag', reason: 'SIGNATURE_INVALID: envelope signature does not verify with a configured key (layer 0)' }] }));
    expect(d.reasons).toEqual([
      `attestation "sbom": no verified ${SPDX} attestation (rejected: SIGNATURE_INVALID: envelope signature does not verify with a configured key (layer 0))`,
    ]);
  });

  it('denies an attestation signed by the wrong signer', () => {
    const d = judge(evidence({ attestations: [sbom, { ...scan(0), signer: { type: 'key', key: 'acme-release' } }] }));
    expect(d.reasons).toEqual([`attestation "vuln-scan": ${VULN} attestation is not signed by key "acme-scanner" (signed by key "acme-release")`]);
  });

  it('denies when the attestation condition is false, with the value; any one attestation may meet it', () => {
    let d = judge(evidence({ attestations: [sbom, scan(2)] }));
    expect(d.reasons).toEqual([
      'attestation "vuln-scan": condition "predicate.scanner.result.summary.CRITICAL == 0" is false (predicate.scanner.result.summary.CRITICAL is 2)',
    ]);
    d = judge(evidence({ attestations: [sbom, scan(2), scan(0)] }));
    expect(d.outcome).toBe('allow');
  });

  it('an evaluation error denies under enforce and serves with the reason under warn', () => {
    const broken = attestation(VULN, { summary: { CRITICAL: 0 } }, 'acme-scanner');
    const d = judge(evidence({ attestations: [sbom, broken] }));
    expect(d.outcome).toBe('deny');
    expect(d.reasons).toEqual([
      'attestation "vuln-scan": condition "predicate.scanner.result.summary.CRITICAL == 0" could not be evaluated: field not found: scanner (read optional fields and map keys behind has() or `in`)',
    ]);
    const warned = judge(evidence({ attestations: [sbom, broken] }), { ...ISSUE_RULE, mode: 'warn' });
    expect(warned.outcome).toBe('warn');
    expect(warned.reasons).toEqual(d.reasons);
  });

  it('denies a predicate that was too large to keep, and evidence without image facts', () => {
    const big = { ...scan(0), predicate: undefined, predicateOmitted: 'the statement is 300000 bytes; predicates are kept up to 262144' };
    expect(judge(evidence({ attestations: [sbom, big] })).reasons).toEqual([
      'attestation "vuln-scan": condition "predicate.scanner.result.summary.CRITICAL == 0" cannot be judged: the statement is 300000 bytes; predicates are kept up to 262144',
    ]);
    const old = judge(evidence({ image: undefined }));
    expect(old.outcome).toBe('deny');
    expect(old.reasons.at(-1)).toMatch(/cannot be judged: the evidence for this image was gathered without image facts$/);
    const unreadable = judge(evidence({ image: image({ config: undefined }), configError: 'config sha256:c: upstream answered 503' }));
    expect(unreadable.reasons).toEqual([expect.stringMatching(/cannot be judged: the image config is unreadable \(config sha256:c: upstream answered 503\)$/)]);
  });

  it('does not apply the rule condition to an index; a platform manifest under an allowed index is judged by it', () => {
    const index = evidence({ image: { mediaType: OCI_INDEX, annotations: {}, layers: [] } });
    const d = judge(index);
    expect(d.outcome).toBe('allow');
    expect(d.evidence!.conditionDeferred).toMatch(/each platform manifest is judged when it is pulled/);

    // A child of an allowed index: signatures and attestations come from the index, its config from itself.
    const child = evidence({ signatures: [], attestations: [], image: image({ config: config({ User: 'root' }) }) });
    const covered = judge(child, ISSUE_RULE, { parentVerdict: 'allow' });
    expect(covered.outcome).toBe('deny');
    expect(covered.reasons).toEqual([expect.stringMatching(/image.config.User is "root"/)]);
    expect(judge({ ...child, image: image() }, ISSUE_RULE, { parentVerdict: 'allow' }).outcome).toBe('allow');
  });

  it('checks a scan is no older than a week, and sees repository, tag, digest, platform, layers and signatures', () => {
    const weekly: PolicyRule = {
      name: 'weekly',
      match: ['**'],
      mode: 'enforce',
      attestations: [{ name: 'scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: "now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')" }],
    };
    expect(judge(evidence({ attestations: [scan(0, daysAgo(2))] }), weekly).outcome).toBe('allow');
    expect(judge(evidence({ attestations: [scan(0, daysAgo(10))] }), weekly).reasons).toEqual([
      `attestation "scan": condition "now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')" is false (now - timestamp(predicate.metadata.scanFinishedOn) is 864000s)`,
    ]);

    const facts: PolicyRule = {
      name: 'facts',
      match: ['**'],
      mode: 'enforce',
      condition: [
        "repository.startsWith('docker.io/acme/') && tag != 'latest' && digest.startsWith('sha256:')",
        "image.platform.os == 'linux' && size(image.layers) <= 10 && image.layers.all(l, l.size < 100000000)",
        "signatures.exists(s, s.signer.key == 'acme-release' && has(s.integratedTime) && s.integratedTime > image.created)",
        "attestations.exists(a, a.predicateType == 'https://spdx.dev/Document' && a.predicate.packages.exists(p, p.name == 'openssl'))",
      ].join(' && '),
    };
    expect(judge(evidence(), facts)).toMatchObject({ outcome: 'allow', reasons: [] });
    expect(judge(evidence(), facts, { tag: 'latest' }).reasons).toEqual([expect.stringMatching(/is false at "tag != "latest"" \(tag is "latest"\)$/)]);
  });

  it('judges the same evidence again as time passes and per tag (results are remembered only where they cannot change)', () => {
    const weekly: PolicyRule = {
      name: 'weekly',
      match: ['**'],
      mode: 'enforce',
      attestations: [{ name: 'scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: "now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')" }],
      condition: "tag != 'latest'",
    };
    const ev = evidence({ attestations: [scan(0, daysAgo(2))] });
    expect(judge(ev, weekly).outcome).toBe('allow');
    expect(judge(ev, weekly, { now: new Date(NOW.getTime() + 6 * 86_400_000) }).reasons).toEqual([expect.stringMatching(/^attestation "scan": condition .* is false/)]);
    expect(judge(ev, weekly, { tag: 'latest' }).reasons).toEqual([expect.stringMatching(/^condition "tag != 'latest'" is false \(tag is "latest"\)$/)]);
    expect(judge(ev, weekly).outcome).toBe('allow');
  });

  it('names a failing macro by the list it ran over', () => {
    const oneProcess: PolicyRule = {
      name: 'one-process',
      match: ['**'],
      mode: 'enforce',
      condition: "!(image.config.Entrypoint + image.config.Cmd).exists(a, a.matches('(^|/)(supervisord|s6-svscan|runsvdir)$'))",
    };
    expect(judge(evidence(), oneProcess).outcome).toBe('allow');
    const d = judge(evidence({ image: image({ config: config({ Entrypoint: ['/usr/bin/supervisord'], Cmd: ['-n'] }) }) }), oneProcess);
    expect(d.reasons).toEqual([expect.stringMatching(/is false \(image\.config\.Entrypoint \+ image\.config\.Cmd is \["\/usr\/bin\/supervisord", "-n"\]\)$/)]);
  });

  it('stops an expensive condition at the cost limit and denies with that reason', () => {
    const vulns = Array.from({ length: 5000 }, (_, i) => ({ id: `CVE-${i}`, severity: 'LOW' }));
    const heavy: PolicyRule = {
      name: 'heavy',
      match: ['**'],
      mode: 'enforce',
      attestations: [{ name: 'scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'predicate.vulns.all(a, predicate.vulns.all(b, a.id == b.id || a.severity == b.severity))' }],
    };
    const started = performance.now();
    const d = judge(evidence({ attestations: [attestation(VULN, { vulns }, 'acme-scanner')] }), heavy);
    expect(d.reasons).toEqual([expect.stringMatching(/could not be evaluated: exceeded the cost limit of 1000000$/)]);
    expect(performance.now() - started).toBeLessThan(5000);
    // The same condition over a small list is within budget.
    expect(judge(evidence({ attestations: [attestation(VULN, { vulns: vulns.slice(0, 50) }, 'acme-scanner')] }), heavy).outcome).toBe('allow');
  });

  it('a condition whose error is absorbed by || still fails when it ran out of budget', () => {
    const vulns = Array.from({ length: 3000 }, (_, i) => `CVE-${i}`);
    const sneaky: PolicyRule = {
      name: 'sneaky',
      match: ['**'],
      mode: 'enforce',
      attestations: [{ name: 'scan', predicateType: VULN, signedBy: { anyOf: [{ key: 'acme-scanner' }] }, condition: 'predicate.v.all(a, predicate.v.all(b, a != b || a == b)) || true' }],
    };
    const d = judge(evidence({ attestations: [attestation(VULN, { v: vulns }, 'acme-scanner')] }), sneaky);
    expect(d.reasons).toEqual([expect.stringMatching(/exceeded the cost limit/)]);
  });
});
