import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import { withoutRevoked, type RevocationSet } from '../../../src/policy/revocation.js';
import { exceptionFor, nameExcepted, underException, type ExceptionSet, type PolicyException } from '../../../src/policy/exception.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence, VerifiedSignature } from '../../../src/verify/types.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const D = `sha256:${'a'.repeat(64)}`;
const sig = (signer: VerifiedSignature['signer'], logIndex?: number): VerifiedSignature => ({
  source: 'sig-tag', artifactDigest: 'sha256:sig', signer,
  ...(logIndex !== undefined && { tlog: { logIndex, integratedTime: NOW.toISOString(), logId: 'x' } }),
});
const evidence = (signatures: VerifiedSignature[]): Evidence => ({
  subject: D as Digest, signatures, attestations: [], rejected: [], collectedAt: NOW.toISOString(),
});
const rule: PolicyRule = { name: 'acme', match: ['up/**'], mode: 'enforce', signatures: { anyOf: [{ key: 'acme' }, { key: 'backup' }] } };
const revoked = (...signers: RevocationSet['list'][number]['signer'][]): RevocationSet => ({
  list: signers.map((signer, i) => ({ id: i + 1, signer, reason: 'leaked', author: 'alice', time: '' })),
});

describe('revocations', () => {
  it('denies evidence whose only trusted signer is revoked, naming the revocation, and keeps other signers', () => {
    const one = evidence([sig({ type: 'key', key: 'acme' })]);
    const d = evaluateRule(rule, one, { now: NOW, revocations: revoked({ key: 'acme' }) });
    expect(d.outcome).toBe('deny');
    expect(d.reasons.join()).toMatch(/REVOKED: signature by key "acme" is revoked \(revocation 1: leaked\)/);
    const two = evidence([sig({ type: 'key', key: 'acme' }), sig({ type: 'key', key: 'backup' })]);
    expect(evaluateRule(rule, two, { now: NOW, revocations: revoked({ key: 'acme' }) }).outcome).toBe('allow');
    expect(evaluateRule(rule, one, { now: NOW, revocations: revoked({ key: 'acm' }) }).outcome).toBe('allow');
  });

  it('leads the reason with the revocation: what was revoked, when and why', () => {
    const one = evidence([sig({ type: 'key', key: 'acme' })]);
    const set: RevocationSet = { list: [{ id: 7, signer: { key: 'acme' }, reason: 'key leaked', author: 'alice', time: '2026-03-01T10:00:00.000Z' }] };
    const d = evaluateRule(rule, one, { now: NOW, revocations: set });
    expect(d.reasons[0]).toMatch(/^revoked: signer key "acme" revoked at 2026-03-01T10:00:00.000Z \(key leaked\) — no signature by key "acme"/);
    // Reasons that owe nothing to a revocation are left as they were.
    const old = evaluateRule({ ...rule, maxAgeDays: 1 }, evidence([sig({ type: 'key', key: 'backup' })]), { now: NOW, revocations: set });
    expect(old.reasons.join()).not.toContain('revoked:');
  });

  it('matches keyless identities exactly and log entries by index', () => {
    const rule2: PolicyRule = { ...rule, signatures: { anyOf: [{ keyless: { issuer: 'https://i', subjectRegExp: '.*' } }] } };
    const e = evidence([sig({ type: 'keyless', issuer: 'https://i', subject: 'a@x', roots: ['default'], extensions: {} }, 42)]);
    expect(evaluateRule(rule2, e, { now: NOW, revocations: revoked({ keyless: { issuer: 'https://i', subject: 'a@x' } }) }).outcome).toBe('deny');
    expect(evaluateRule(rule2, e, { now: NOW, revocations: revoked({ keyless: { issuer: 'https://i', subject: 'a@x.evil' } }) }).outcome).toBe('allow');
    expect(evaluateRule(rule2, e, { now: NOW, revocations: revoked({ logIndex: 42 }) }).outcome).toBe('deny');
    expect(evaluateRule(rule2, e, { now: NOW, revocations: revoked({ logIndex: 4 }) }).outcome).toBe('allow');
  });

  it('returns the same filtered evidence for the same set, and the evidence itself when nothing is revoked', () => {
    const e = evidence([sig({ type: 'key', key: 'acme' })]);
    const set = revoked({ key: 'acme' });
    expect(withoutRevoked(e, set)).toBe(withoutRevoked(e, set));
    expect(withoutRevoked(e, set)).not.toBe(e);
    expect(withoutRevoked(e, revoked({ key: 'other' }))).toBe(e);
  });
});

describe('exceptions', () => {
  const exc = (over: Partial<PolicyException>): ExceptionSet => ({
    list: [{ id: 7, repository: 'up/acme/app', digest: null, until: '2026-06-01T04:00:00.000Z', reason: 'INC-1', author: 'alice', time: '', coverDenyRule: false, ...over }],
  });
  const deny = { outcome: 'deny' as const, rule: 'acme', mode: 'enforce' as const, reasons: ['no signature'] };

  it('covers a denied pull of its repository or digest until it runs out', () => {
    expect(exceptionFor(exc({}), deny, 'up/acme/app', [D], NOW)?.id).toBe(7);
    expect(exceptionFor(exc({ digest: D }), deny, 'up/acme/app', [D], NOW)?.id).toBe(7);
    expect(exceptionFor(exc({ digest: `sha256:${'b'.repeat(64)}` }), deny, 'up/acme/app', [D], NOW)).toBeUndefined();
    expect(exceptionFor(exc({}), deny, 'up/acme/app-2', [D], NOW)).toBeUndefined();
    expect(exceptionFor(exc({}), deny, 'up/acme/app', [D], new Date('2026-06-01T04:00:00Z'))).toBeUndefined();
    const served = underException({ ...deny, policyVersion: 1 }, exc({}).list[0]!);
    expect(served).toMatchObject({ outcome: 'allow', reasons: ['no signature'], evidence: { exception: { id: 7, reason: 'INC-1' } } });
  });

  it('covers a deny rule or an unmatched name only when it says so', () => {
    const byRule = { ...deny, mode: 'deny' as const };
    const noRule = { ...deny, rule: null, mode: null };
    expect(exceptionFor(exc({}), byRule, 'up/acme/app', [D], NOW)).toBeUndefined();
    expect(exceptionFor(exc({}), noRule, 'up/acme/app', [D], NOW)).toBeUndefined();
    expect(nameExcepted(exc({}), 'up/acme/app', NOW)).toBe(false);
    expect(exceptionFor(exc({ coverDenyRule: true }), byRule, 'up/acme/app', [D], NOW)?.id).toBe(7);
    expect(nameExcepted(exc({ coverDenyRule: true }), 'up/acme/app', NOW)).toBe(true);
  });
});
