import { createHash } from 'node:crypto';
import type { TrustConfig } from '../config/types.js';
import { describeSigner, satisfiesAny } from '../policy/signer-match.js';
import type { SignatureRequirement } from '../policy/types.js';
import { verifyBundleBytes } from '../verify/bundle-artifact.js';
import { loadTrust } from '../verify/trust-material.js';
import type { VerifiedSignature } from '../verify/types.js';
import { toReason } from '../verify/verify-error.js';

/** The artifact a bundle is about: its bytes, or (for `sha256:<hex>`) only its digest. */
export type BundleArtifact = { bytes: Buffer } | { sha256: string };

/** Who must have signed: a certificate identity and issuer (exact), or the holder of a PEM public key. */
export type ExpectedSigner = { identity: string; issuer: string } | { keyPem: string };

export interface BundleCheck {
  bundle: Buffer;
  artifact: BundleArtifact;
  signer: ExpectedSigner;
  /** The trust section as the proxy loads it; its `keys` are replaced by the expected key. */
  trust: TrustConfig;
  now?: Date;
}

export type BundleVerdict = { verified: true; signers: string[] } | { verified: false; reason: string };

/** The name the expected key gets among the trusted keys, as evidence names it. */
export const EXPECTED_KEY = 'key';

/**
 * Verifies one Sigstore bundle offline through the code that verifies an image's referrer bundles
 * (`verifyBundleBytes`) and matches its signer as a policy rule would. Throws TrustMaterialError when the
 * trust material does not load; every other failure is a verdict with its coded reason.
 */
export function checkBundle(check: BundleCheck): BundleVerdict {
  const keyed = 'keyPem' in check.signer;
  const trust = loadTrust({ ...check.trust, keys: keyed ? { [EXPECTED_KEY]: (check.signer as { keyPem: string }).keyPem } : {} });
  const sha256 = 'bytes' in check.artifact ? createHash('sha256').update(check.artifact.bytes).digest('hex') : check.artifact.sha256;
  let found: VerifiedSignature[];
  try {
    const evidence = verifyBundleBytes(
      check.bundle,
      { subject: { digests: { sha256 } }, ...('bytes' in check.artifact && { artifact: check.artifact.bytes }), source: 'referrer', artifactDigest: `sha256:${sha256}` },
      { roots: trust.roots, keys: trust.keys, now: check.now ?? new Date() },
    );
    found = [...evidence.signatures, ...evidence.attestations];
  } catch (err) {
    return { verified: false, reason: toReason(err) };
  }
  // A keyless signer may chain to any configured root; a policy rule would name the one it wants.
  const reqs: SignatureRequirement[] = keyed
    ? [{ key: EXPECTED_KEY }]
    : trust.roots.map((r) => ({ keyless: { ...expectedIdentity(check.signer), root: r.name } }));
  const matching = found.filter((s) => satisfiesAny(reqs, s));
  if (matching.length === 0) {
    const who = found.map((s) => describeSigner(s.signer)).join(', ');
    return { verified: false, reason: `IDENTITY: the bundle verifies, but its signer ${who} is not the one expected` };
  }
  return { verified: true, signers: matching.map((s) => describeSigner(s.signer)) };
}

function expectedIdentity(signer: ExpectedSigner): { subject: string; issuer: string } {
  const s = signer as { identity: string; issuer: string };
  return { subject: s.identity, issuer: s.issuer };
}
