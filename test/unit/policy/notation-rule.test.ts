import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import { withoutRevoked } from '../../../src/policy/revocation.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import { validatePolicyRules } from '../../../src/policy/validate.js';
import type { Evidence, NotationSigner } from '../../../src/verify/types.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const signer = (over: Partial<NotationSigner> = {}): NotationSigner => ({
  type: 'notation',
  subject: 'C=US, ST=WA, O=Acme\\, Inc., CN=release',
  fingerprint: 'ab'.repeat(32),
  signingScheme: 'notary.x509',
  trustStores: ['ca:acme'],
  envelope: 'jws',
  signingTime: '2026-05-01T00:00:00.000Z',
  ...over,
});
const evidence = (s: NotationSigner): Evidence => ({
  subject: 'sha256:' + '1'.repeat(64) as Evidence['subject'],
  signatures: [{ source: 'referrer', artifactDigest: 'sha256:' + '2'.repeat(64), signer: s }],
  attestations: [],
  rejected: [],
  collectedAt: NOW.toISOString(),
});
const rule = (notation: Record<string, unknown>): PolicyRule => ({
  name: 'n', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ notation } as never] },
});
const outcome = (notation: Record<string, unknown>, s = signer()) => evaluateRule(rule(notation), evidence(s), { now: NOW });

describe('notation entries of signatures.anyOf', () => {
  it('validate in notation trust policy words, with a path for every mistake', () => {
    expect(validatePolicyRules([rule({ trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: C=US, O=Acme, CN=release'], tsa: ['tsa:corp'] })]).errors).toEqual([]);
    const { errors } = validatePolicyRules([rule({ trustStores: ['acme'], trustedIdentities: ['CN=release', 'x509.subject: nonsense'], tsa: ['ca:x'], extra: 1 })]);
    expect(errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      'policies[0].signatures.anyOf[0].notation.extra: unknown field',
      'policies[0].signatures.anyOf[0].notation.trustStores[0]: must be "ca:<name>" or "signingAuthority:<name>"',
      'policies[0].signatures.anyOf[0].notation.trustedIdentities[0]: must be "*" or "x509.subject: <DN>"',
      'policies[0].signatures.anyOf[0].notation.trustedIdentities[1]: is not a distinguished name such as "x509.subject: C=US, O=Acme, CN=release"',
      'policies[0].signatures.anyOf[0].notation.tsa[0]: must be "tsa:<name>"',
    ]);
    expect(validatePolicyRules([rule({ trustStores: [] })]).errors.map((e) => e.path)).toEqual([
      'policies[0].signatures.anyOf[0].notation.trustStores',
      'policies[0].signatures.anyOf[0].notation.trustedIdentities',
    ]);
  });

  it('match a subject holding every attribute the identity names, in any order, escapes included', () => {
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: CN=release, O=Acme\\, Inc.'] }).outcome).toBe('allow');
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['*'] }).outcome).toBe('allow');
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: C=US, O=Acme, CN=release'] }).outcome).toBe('deny');
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: C=US, CN=release, OU=Builds'] }).outcome).toBe('deny');
    const denied = outcome({ trustStores: ['ca:other'], trustedIdentities: ['*'] });
    expect(denied.reasons[0]).toMatch(/^no signature by Notation signer any identity \(trust store ca:other\); verified signers: Notation signer C=US, ST=WA, O=Acme\\, Inc\., CN=release/);
  });

  it('accept a certificate valid only at a timestamp when the entry names the TSA store it verified under', () => {
    const stamped = signer({ timestampStores: ['tsa:corp'] });
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['*'] }, stamped).outcome).toBe('deny');
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['*'], tsa: ['tsa:other'] }, stamped).outcome).toBe('deny');
    expect(outcome({ trustStores: ['ca:acme'], trustedIdentities: ['*'], tsa: ['tsa:corp'] }, stamped).outcome).toBe('allow');
  });

  it('drop a signer whose certificate fingerprint is revoked, with the revocation as the reason', () => {
    const ev = evidence(signer());
    const set = { list: [{ id: 4, signer: { notation: { fingerprint: 'ab'.repeat(32) } }, reason: 'leaked', author: 'alice', time: '2026-05-30T00:00:00Z' }] };
    expect(withoutRevoked(ev, set).signatures).toEqual([]);
    const decision = evaluateRule(rule({ trustStores: ['ca:acme'], trustedIdentities: ['*'] }), ev, { now: NOW, revocations: set });
    expect(decision.outcome).toBe('deny');
    expect(decision.reasons[0]).toMatch(/^revoked: signer Notation certificate sha256 (ab){32} revoked at 2026-05-30T00:00:00Z \(leaked\)/);
    const other = { list: [{ ...set.list[0]!, signer: { notation: { fingerprint: 'cd'.repeat(32) } } }] };
    expect(evaluateRule(rule({ trustStores: ['ca:acme'], trustedIdentities: ['*'] }), ev, { now: NOW, revocations: other }).outcome).toBe('allow');
  });
});

describe('the README example', () => {
  it('loads as written and trusts the identity it names', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Notation signatures'), readme.indexOf('### Recipes'));
    const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!) as { policies: unknown[] };
    const { rules, errors } = validatePolicyRules(example.policies);
    expect(errors).toEqual([]);
    const s = signer({ subject: 'C=US, ST=WA, L=Seattle, O=Acme, CN=release', timestampStores: ['tsa:corp'] });
    expect(evaluateRule(rules![0]!, evidence(s), { now: NOW }).outcome).toBe('allow');
  });
});
