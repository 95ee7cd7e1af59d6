import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { satisfies } from '../../../src/policy/signer-match.js';
import { verifyBundleBytes } from '../../../src/verify/bundle-artifact.js';
import { loadTrust, type LoadedTrust } from '../../../src/verify/trust-material.js';
import { toReason } from '../../../src/verify/verify-error.js';
import { createAttestationReferrer, createTestImage, createTestPki, descriptorOf, type ReferrerArtifact } from '../../helpers/pki/index.js';

/**
 * Several trusted roots: a second instance shaped like GitHub's (a CA without CT logs, no transparency log,
 * an RFC 3161 timestamp authority) beside the tests' public-good-like instance. What a root lists decides
 * what a signature needs; evidence records every root a certificate chained to.
 */
const pki = createTestPki();
const dir = mkdtempSync(join(tmpdir(), 'trust-roots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const defaultRoot = await pki.writeTrustedRoot(dir);
const githubRoot = await pki.githubLike.writeTrustedRoot(dir);
const SOURCE_REPO = '1.3.6.1.4.1.57264.1.12';
const ISSUER = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/private-app/.github/workflows/release.yml@refs/heads/main';

const image = createTestImage('private-app');
const subject = descriptorOf(image);
const trusted = (roots: Record<string, string> = { github: githubRoot }) => loadTrust({ trustedRoot: defaultRoot, roots, keys: {}, verifyTtlMs: 0 });

function attest(opts: Partial<Parameters<typeof createAttestationReferrer>[0]> = {}): ReferrerArtifact {
  const signer = pki.githubLike.fulcio.issue({ uri: WORKFLOW, issuer: ISSUER, sct: 'none', extraExtensions: { [SOURCE_REPO]: 'https://github.com/acme/private-app' } });
  return createAttestationReferrer({ subject, signer, tsa: pki.githubLike.tsa, ...opts });
}

function verify(r: ReferrerArtifact, trust: LoadedTrust) {
  const bytes = Buffer.from(JSON.stringify(r.bundle));
  const target = { subject: { digests: { sha256: image.digest.slice(7) } }, source: 'referrer' as const, artifactDigest: r.digest };
  try {
    return verifyBundleBytes(bytes, target, { roots: trust.roots, keys: trust.keys, now: new Date() });
  } catch (err) {
    return toReason(err);
  }
}

describe('several trusted roots', () => {
  it('accepts a certificate without SCT and a timestamp instead of a log under a root that lists neither CT nor logs', () => {
    const found = verify(attest(), trusted());
    if (typeof found === 'string') throw new Error(found);
    const [att] = found.attestations;
    expect(att!.signer).toEqual({ type: 'keyless', issuer: ISSUER, subject: WORKFLOW, roots: ['github'], extensions: { sourceRepositoryURI: 'https://github.com/acme/private-app' } });
    expect(att!.tlog).toBeUndefined();
    expect(Date.now() - Date.parse(att!.timestamp!)).toBeLessThan(60_000);
    expect(satisfies({ keyless: { root: 'github', issuer: ISSUER, subject: WORKFLOW } }, att!)).toBe(true);
    expect(satisfies({ keyless: { issuer: ISSUER, subject: WORKFLOW } }, att!)).toBe(false);
  });

  it('refuses it when only the default root is configured: the certificate does not chain there', () => {
    expect(verify(attest(), trusted({}))).toMatch(/^(TIMESTAMP|CERT_CHAIN):/);
  });

  it('needs a verified timestamp from the root\'s own authority', () => {
    expect(verify(attest({ tsa: undefined }), trusted())).toMatch(/^TIMESTAMP: .*root "github": TIMESTAMP: no RFC 3161 timestamp for the certificate \(its root lists no transparency log\)/);
    expect(verify(attest({ tsa: pki.untrusted.tsa }), trusted())).toMatch(/^TIMESTAMP: .*root "github": TIMESTAMP: timestamp could not be verified/);
  });

  it('needs the certificate to be valid at the timestamp', () => {
    const late = new Date(Date.now() + 30 * 60_000);
    expect(verify(attest({ tsaTime: late }), trusted())).toMatch(/root "github": CERT_CHAIN/);
  });

  it('still requires SCTs and a log entry or timestamp under a root that lists CT logs and logs', () => {
    const fromDefault = (sct: 'valid' | 'none') =>
      createAttestationReferrer({ subject, signer: pki.fulcio.issue({ uri: WORKFLOW, issuer: ISSUER, sct }), rekor: pki.rekor });
    const ok = verify(fromDefault('valid'), trusted());
    if (typeof ok === 'string') throw new Error(ok);
    expect(ok.attestations[0]!.signer).toMatchObject({ roots: ['default'] });
    expect(ok.attestations[0]!.tlog).toBeDefined();
    expect(verify(fromDefault('none'), trusted())).toMatch(/^SCT: .*expected 1 SCTs/);
  });

  it('trusts every line of a JSON Lines root under its name, as gh attestation trusted-root writes it', () => {
    const both = join(dir, 'both.jsonl');
    writeFileSync(both, `${JSON.stringify(pki.trustedRoot())}\n${JSON.stringify(pki.githubLike.trustedRoot())}\n`);
    const trust = trusted({ gh: both });
    const fromGithub = verify(attest(), trust);
    const fromDefault = verify(createAttestationReferrer({ subject, signer: pki.fulcio.issue({ uri: WORKFLOW, issuer: ISSUER }), rekor: pki.rekor }), trust);
    if (typeof fromGithub === 'string' || typeof fromDefault === 'string') throw new Error(String(fromGithub) + String(fromDefault));
    expect(fromGithub.attestations[0]!.signer).toMatchObject({ roots: ['gh'] });
    expect(fromDefault.attestations[0]!.signer).toMatchObject({ roots: ['default', 'gh'] });
  });
});

describe('loading several roots', () => {
  it('covers every root in the fingerprint', () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, readFileSync(githubRoot));
    const a = trusted({ github: githubRoot }).fingerprint;
    expect(trusted({ github: other }).fingerprint).toBe(a);
    expect(trusted({ corp: githubRoot }).fingerprint).not.toBe(a);
    expect(trusted({}).fingerprint).not.toBe(a);
    writeFileSync(other, JSON.stringify(createTestPki().githubLike.trustedRoot()));
    expect(trusted({ github: other }).fingerprint).not.toBe(a);
  });

  it('fails with the name and path of a root that does not load', () => {
    const broken = join(dir, 'broken.jsonl');
    writeFileSync(broken, `${JSON.stringify(pki.trustedRoot())}\n{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "certificateAuthorities": [{}]}\n`);
    expect(() => trusted({ corp: broken })).toThrow(`trust.roots.corp (${broken}) line 2: certificateAuthorities[0] has no certificates`);
    expect(() => trusted({ corp: join(dir, 'missing.json') })).toThrow(`cannot read trust.roots.corp (${join(dir, 'missing.json')})`);
    const noTime = join(dir, 'no-time.json');
    writeFileSync(noTime, JSON.stringify({ ...pki.githubLike.trustedRoot(), timestampAuthorities: [] }));
    expect(() => trusted({ corp: noTime })).toThrow(/certificate authorities without transparency logs or timestamp authorities/);
  });
});
