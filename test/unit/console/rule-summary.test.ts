import { describe, expect, it } from 'vitest';
import { ruleSummary } from '../../../ui/src/rule-summary.js';

/** The policy page says each rule in words beside its JSON; every requirement the evaluator checks is named. */
describe('ruleSummary', () => {
  it('says what an allow or deny rule does, and nothing it ignores', () => {
    expect(ruleSummary({ name: 'open', match: ['docker.io/library/**'], mode: 'allow', signatures: { anyOf: [{ key: 'k' }] } })).toEqual([
      'docker.io/library/** — served without checks',
    ]);
    expect(ruleSummary({ name: 'no', match: ['a/**', 'b/*'], mode: 'deny' })).toEqual(['a/**, b/* — always denied']);
  });

  it('names every requirement of an enforce rule', () => {
    const lines = ruleSummary({
      name: 'release',
      match: ['docker.io/acme/**'],
      mode: 'enforce',
      signatures: {
        anyOf: [
          { keyless: { issuer: 'https://token.actions.githubusercontent.com', subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main', extensions: { sourceRepositoryURI: 'https://github.com/acme/app' } } },
          { key: 'platform-release', tlog: 'required' },
        ],
      },
      provenance: { signedBy: { anyOf: [{ keyless: { issuerRegExp: 'https://.*' } }] }, builderId: 'https://github.com/slsa-framework/builder', sourceRepository: 'https://github.com/acme/app', sourceBranch: 'main' },
      attestations: [{ name: 'sbom', predicateType: 'https://spdx.dev/Document', signedBy: { anyOf: [{ key: 'sbom-key' }] }, condition: 'size(predicate.packages) > 0' }],
      condition: 'image.config.User != "root"',
      maxAgeDays: 90,
      baseImage: { maxBehindDays: 14, requireAnnotation: true },
    });
    expect(lines).toEqual([
      'docker.io/acme/** — served only if every requirement holds; denied otherwise',
      'Signature: keyless signature by https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main issued by https://token.actions.githubusercontent.com with sourceRepositoryURI = https://github.com/acme/app or key "platform-release" with a transparency-log entry',
      'Provenance: SLSA provenance signed by keyless signature by any subject issued by /https://.*/, builder https://github.com/slsa-framework/builder, source https://github.com/acme/app, branch main',
      'Attestation "sbom": https://spdx.dev/Document by key "sbom-key", where size(predicate.packages) > 0',
      'Condition: image.config.User != "root"',
      'Age: built at most 90 day(s) ago',
      'Base image: rebuilt within 14 day(s) of its base moving; the image must name its base',
    ]);
  });

  it('says when a warn rule checks nothing, and points at fields it does not know', () => {
    expect(ruleSummary({ name: 'w', match: ['x/**'], mode: 'warn', futureField: 1 })).toEqual([
      'x/** — served even if a requirement fails, with a warning in the audit log',
      'No requirement beyond the match',
      'Also: futureField (see the JSON)',
    ]);
  });
});
