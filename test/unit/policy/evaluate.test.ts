import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence, VerifiedAttestation, VerifiedSignature } from '../../../src/verify/types.js';

const NOW = new Date('2025-06-01T00:00:00Z');
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();

function evidence(parts: Partial<Evidence> = {}): Evidence {
  return {
    subject: `sha256:${'a'.repeat(64)}` as Digest,
    signatures: [],
    attestations: [],
    rejected: [],
    collectedAt: NOW.toISOString(),
    ...parts,
  };
}

const keyless = (subject: string, issuer = 'https://github.com/login/oauth', tlogDaysAgo = 1): VerifiedSignature => ({
  source: 'sig-tag',
  artifactDigest: 'sha256:sig',
  signer: { type: 'keyless', issuer, subject, roots: ['default'], extensions: {} },
  tlog: { logIndex: 42, integratedTime: daysAgo(tlogDaysAgo), logId: 'c0d2' },
});

const keySig = (key: string, withTlog: boolean): VerifiedSignature => ({
  source: 'sig-tag',
  artifactDigest: 'sha256:sig',
  signer: { type: 'key', key },
  ...(withTlog && { tlog: { logIndex: 7, integratedTime: daysAgo(3), logId: 'c0d2' } }),
});

const GH = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

const provenance = (over: Partial<VerifiedAttestation['provenance']> = {}, subject = WORKFLOW): VerifiedAttestation => ({
  source: 'att-tag',
  artifactDigest: 'sha256:att',
  signer: { type: 'keyless', issuer: GH, subject, roots: ['default'], extensions: {} },
  predicateType: 'https://slsa.dev/provenance/v1',
  statementDigest: 'sha256:stmt',
  provenance: {
    predicateType: 'https://slsa.dev/provenance/v1',
    builderId: 'https://github.com/actions/runner/github-hosted',
    sourceRepository: 'https://github.com/acme/app',
    sourceBranch: 'main',
    finishedOn: daysAgo(2),
    ...over,
  },
});

const rule = (over: Partial<PolicyRule>): PolicyRule => ({ name: 'prod', match: ['docker/**'], mode: 'enforce', ...over });
const mitrRule = rule({ signatures: { anyOf: [{ keyless: { issuer: 'https://github.com/login/oauth', subject: 'mitr@redhat.com' } }] } });

describe('evaluateRule: modes', () => {
  it('allow serves without evidence and deny refuses with a fixed reason', () => {
    expect(evaluateRule(rule({ mode: 'allow' }), undefined, { now: NOW }).outcome).toBe('allow');
    const d = evaluateRule(rule({ mode: 'deny' }), evidence({ signatures: [keyless('mitr@redhat.com')] }), { now: NOW });
    expect(d).toMatchObject({ outcome: 'deny', rule: 'prod', reasons: ['denied by policy'] });
  });

  it('warn mode serves an unsigned image but records why it would be denied', () => {
    const d = evaluateRule({ ...mitrRule, mode: 'warn' }, evidence(), { now: NOW });
    expect(d.outcome).toBe('warn');
    expect(d.reasons[0]).toContain('no signature by mitr@redhat.com');
  });

  it('enforce without any evidence denies', () => {
    expect(evaluateRule(mitrRule, undefined, { now: NOW }).outcome).toBe('deny');
  });

  it('an upstream failure while gathering denies even when a good signature was found', () => {
    const d = evaluateRule(mitrRule, evidence({ signatures: [keyless('mitr@redhat.com')], gatherError: 'manifest x: 503' }), { now: NOW });
    expect(d.outcome).toBe('deny');
    expect(d.reasons.join()).toContain('could not be read: manifest x: 503');
  });
});

describe('evaluateRule: the signers an event is found by', () => {
  it('lists every verified signer once, past the attestations it details, and counts those past 32', () => {
    const att = (key: string): VerifiedAttestation => ({ ...provenance(), signer: { type: 'key', key } });
    const notation: VerifiedSignature = {
      ...keySig('x', false),
      signer: { type: 'notation', subject: 'CN=Acme', fingerprint: 'ab'.repeat(32), trustStores: ['ca:acme'], signingScheme: 'notary.x509', envelope: 'jws', signingTime: daysAgo(1) },
    } as VerifiedSignature;
    const many = evidence({ signatures: [keySig('release', false), keySig('release', true), keyless('mitr@redhat.com'), notation], attestations: [...Array(6).fill(att('sbom')), att('scanner')] });
    const d = evaluateRule(rule({ signatures: { anyOf: [{ key: 'release' }] } }), many, { now: NOW });
    expect(d.evidence?.attestationTypes).toHaveLength(5);
    expect(d.evidence?.signers).toEqual([
      { key: 'release' },
      { issuer: 'https://github.com/login/oauth', subject: 'mitr@redhat.com' },
      { notation: { subject: 'CN=Acme', fingerprint: 'ab'.repeat(32) } },
      { key: 'sbom' },
      { key: 'scanner' },
    ]);
    // Each transparency-log entry once, as a revocation by log index names it.
    expect(d.evidence?.logEntries).toEqual([{ logIndex: 7 }, { logIndex: 42 }]);
    const crowd = evidence({ attestations: Array.from({ length: 40 }, (_, i) => att(`k${i}`)) });
    const c = evaluateRule(rule({ signatures: { anyOf: [{ key: 'k0' }] } }), crowd, { now: NOW });
    expect(c.evidence?.signers).toHaveLength(32);
    expect(c.evidence?.signersOmitted).toBe(8);
  });
});

describe('evaluateRule: keyless identity', () => {
  it('allows the exact identity and issuer and records the matched signer', () => {
    const d = evaluateRule(mitrRule, evidence({ signatures: [keyless('mitr@redhat.com')] }), { now: NOW });
    expect(d.outcome).toBe('allow');
    expect(d.evidence?.matchedSigners).toEqual([
      expect.objectContaining({ signer: { issuer: 'https://github.com/login/oauth', subject: 'mitr@redhat.com', roots: ['default'] }, tlog: { logIndex: 42, integratedTime: daysAgo(1) } }),
    ]);
  });

  it('denies an identity that only contains the allowed one', () => {
    for (const subject of ['xmitr@redhat.com', 'mitr@redhat.com.evil.example']) {
      expect(evaluateRule(mitrRule, evidence({ signatures: [keyless(subject)] }), { now: NOW }).outcome).toBe('deny');
    }
  });

  it('anchors regular expressions over the whole identity', () => {
    const r = rule({ signatures: { anyOf: [{ keyless: { issuer: GH, subjectRegExp: 'https://github\\.com/acme/.*@refs/heads/main' } }] } });
    expect(evaluateRule(r, evidence({ signatures: [keyless(WORKFLOW, GH)] }), { now: NOW }).outcome).toBe('allow');
    const evil = `https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main?https://github.com/acme/a@refs/heads/main`;
    expect(evaluateRule(r, evidence({ signatures: [keyless(`${WORKFLOW}-fork`, GH), keyless(evil, GH)] }), { now: NOW }).outcome).toBe('deny');
    const alternation = rule({ signatures: { anyOf: [{ keyless: { issuerRegExp: 'https://accounts\\.google\\.com|https://github\\.com/login/oauth', subject: 'mitr@redhat.com' } }] } });
    expect(evaluateRule(alternation, evidence({ signatures: [keyless('mitr@redhat.com', 'https://github.com/login/oauth.evil')] }), { now: NOW }).outcome).toBe('deny');
  });

  it('denies the right identity from the wrong issuer, naming what was found', () => {
    const d = evaluateRule(mitrRule, evidence({ signatures: [keyless('mitr@redhat.com', 'https://accounts.google.com')] }), { now: NOW });
    expect(d.outcome).toBe('deny');
    expect(d.reasons[0]).toContain('verified signers: mitr@redhat.com (issuer https://accounts.google.com)');
  });

  it('lists rejected artifacts in the reason and the audit summary', () => {
    const d = evaluateRule(mitrRule, evidence({ rejected: [{ source: 'sig-tag', reason: 'SIGNATURE_INVALID: bad' }] }), { now: NOW });
    expect(d.reasons[0]).toContain('rejected: SIGNATURE_INVALID: bad');
    expect(d.evidence).toMatchObject({ rejected: ['SIGNATURE_INVALID: bad'], rejectedCount: 1 });
  });
});

describe('evaluateRule: keys and tlog', () => {
  const required = rule({ signatures: { anyOf: [{ key: 'release', tlog: 'required' }] } });
  it('tlog "required" refuses a key signature with no log entry', () => {
    const d = evaluateRule(required, evidence({ signatures: [keySig('release', false)] }), { now: NOW });
    expect(d.outcome).toBe('deny');
    expect(d.reasons[0]).toContain('key "release" (no tlog entry)');
  });
  it('tlog "required" accepts a logged key signature; optional accepts an unlogged one', () => {
    expect(evaluateRule(required, evidence({ signatures: [keySig('release', true)] }), { now: NOW }).outcome).toBe('allow');
    const optional = rule({ signatures: { anyOf: [{ key: 'release' }] } });
    expect(evaluateRule(optional, evidence({ signatures: [keySig('release', false)] }), { now: NOW }).outcome).toBe('allow');
  });
  it('a signature by another configured key does not count', () => {
    expect(evaluateRule(required, evidence({ signatures: [keySig('other', true)] }), { now: NOW }).outcome).toBe('deny');
  });
});

describe('evaluateRule: provenance', () => {
  const prov = rule({
    provenance: {
      signedBy: { anyOf: [{ keyless: { issuer: GH, subjectRegExp: 'https://github\\.com/acme/app/.*' } }] },
      builderIdRegExp: 'https://github\\.com/actions/runner/.*',
      sourceRepository: 'https://github.com/acme/app',
      sourceBranch: 'main',
    },
  });
  it('allows matching SLSA provenance', () => {
    const d = evaluateRule(prov, evidence({ attestations: [provenance()] }), { now: NOW });
    expect(d.outcome).toBe('allow');
    expect(d.evidence?.attestationTypes).toEqual([expect.objectContaining({ predicateType: 'https://slsa.dev/provenance/v1', statementDigest: 'sha256:stmt' })]);
  });
  it('denies provenance from another repository or branch, saying which field differs', () => {
    const d = evaluateRule(prov, evidence({ attestations: [provenance({ sourceRepository: 'https://github.com/acme/app-fork' })] }), { now: NOW });
    expect(d.reasons).toEqual(['provenance does not match: source https://github.com/acme/app-fork is not https://github.com/acme/app']);
    expect(evaluateRule(prov, evidence({ attestations: [provenance({ sourceBranch: 'dev' })] }), { now: NOW }).outcome).toBe('deny');
  });
  it('denies provenance signed by an untrusted identity', () => {
    const d = evaluateRule(prov, evidence({ attestations: [provenance({}, 'https://github.com/mallory/app/.github/workflows/x.yml@refs/heads/main')] }), { now: NOW });
    expect(d.reasons[0]).toContain('is not signed by');
  });
  it('ignores attestations that are not SLSA provenance', () => {
    const sbom = { ...provenance(), predicateType: 'https://spdx.dev/Document' };
    expect(evaluateRule(prov, evidence({ attestations: [sbom] }), { now: NOW }).reasons).toEqual(['no verified SLSA provenance']);
  });
});

describe('evaluateRule: maxAgeDays', () => {
  const fresh = rule({ signatures: { anyOf: [{ keyless: { issuer: GH, subject: WORKFLOW } }] }, maxAgeDays: 30 });
  it('uses provenance finish time first and denies stale images with the build date', () => {
    const d = evaluateRule(fresh, evidence({ signatures: [keyless(WORKFLOW, GH)], attestations: [provenance({ finishedOn: '2025-01-15T10:00:00Z' })], configCreated: daysAgo(1) }), { now: NOW });
    expect(d.outcome).toBe('deny');
    expect(d.reasons).toEqual(['image is stale: built 2025-01-15, older than 30 days']);
    expect(d.evidence?.buildTime).toEqual({ time: '2025-01-15T10:00:00.000Z', source: 'provenance' });
  });
  it('falls back to the config created date', () => {
    const d = evaluateRule(fresh, evidence({ signatures: [keyless(WORKFLOW, GH, 1)], configCreated: daysAgo(45) }), { now: NOW });
    expect(d.reasons[0]).toMatch(/^image is stale: built \d{4}-\d\d-\d\d, older than 30 days$/);
  });
  it('treats an epoch created date as unknown and uses the signature log time instead', () => {
    const d = evaluateRule(fresh, evidence({ signatures: [keyless(WORKFLOW, GH, 5)], configCreated: '1970-01-01T00:00:00Z' }), { now: NOW });
    expect(d.outcome).toBe('allow');
    expect(d.evidence?.buildTime).toEqual({ time: daysAgo(5), source: 'tlog' });
  });
  it('denies when no build time can be established', () => {
    const byAge = rule({ mode: 'enforce', maxAgeDays: 30 });
    expect(evaluateRule(byAge, evidence({ configCreated: '0001-01-01T00:00:00Z' }), { now: NOW }).reasons).toEqual(['build time unknown']);
    const d = evaluateRule(byAge, evidence({ configError: 'config sha256:c: 503' }), { now: NOW });
    expect(d.reasons[0]).toContain('image config unreadable');
  });
  it('does not take build time from provenance signed by an identity the rule does not trust', () => {
    const untrusted = provenance({ finishedOn: daysAgo(1) }, 'https://github.com/mallory/x/.github/workflows/a.yml@refs/heads/main');
    const d = evaluateRule(fresh, evidence({ signatures: [keyless(WORKFLOW, GH, 60)], attestations: [untrusted] }), { now: NOW });
    expect(d.reasons[0]).toMatch(/^image is stale/);
  });
});

describe('evaluateRule: child of an allowed index', () => {
  it('treats signature and provenance requirements as met by the parent', () => {
    const r = rule({ signatures: { anyOf: [{ key: 'release' }] }, provenance: { signedBy: { anyOf: [{ key: 'release' }] } } });
    const d = evaluateRule(r, evidence(), { now: NOW, parentVerdict: 'allow' });
    expect(d.outcome).toBe('allow');
    expect(d.evidence?.satisfiedByParent).toBe(true);
  });
  it('still denies a child whose own build time is stale', () => {
    const r = rule({ signatures: { anyOf: [{ key: 'release' }] }, maxAgeDays: 10 });
    expect(evaluateRule(r, evidence({ configCreated: daysAgo(20) }), { now: NOW, parentVerdict: 'allow' }).outcome).toBe('deny');
    expect(evaluateRule(r, evidence(), { now: NOW, parentVerdict: 'allow' }).outcome).toBe('allow');
  });
});
