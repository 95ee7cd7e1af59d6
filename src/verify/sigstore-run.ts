import { createVerify, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { Verifier, toSignedEntity, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { RootInstance } from './trusted-root-file.js';
import { verifyPrehashed } from './prehashed.js';
import { VerifyFailure } from './verify-error.js';
import { updateWithPae } from './dsse-pae.js';

export interface SigstoreRun {
  /** Bundle in its JSON form (a real one, or one converted from cosign layer annotations). */
  bundle: unknown;
  /** The same bundle already parsed (and, for a large report, its payload put back): not parsed again. */
  parsed?: Bundle;
  /** The signed bytes for message signatures. */
  artifact?: Buffer;
  /** The operator key to use for `publicKey` bundles. */
  key?: KeyObject;
  tlogThreshold: number;
  timestampThreshold: number;
  /**
   * Keep the tlog entry as a timestamp source but skip sigstore-js's tlog step, for entries whose SET and
   * body the caller has already checked by hand (intoto 0.0.1, which sigstore-js 4 still cannot read, and
   * co-signed legacy envelopes, whose dsse entry it wants to hold exactly one signature).
   */
  tlogCheckedByCaller?: boolean;
  /** The digests of a large DSSE payload, taken off the event loop: the payload is then not hashed here. */
  hashed?: { payloadSha256: Buffer; paeSha256: Buffer };
  /** For a message signature whose artifact is known only by its digest (`verify-bundle sha256:<hex>`). */
  signedDigest?: { digest: Buffer; hash: string };
}

export function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw new VerifyFailure('MALFORMED', `not a valid Sigstore bundle: ${(err as Error).message}`);
  }
}

/**
 * Runs sigstore-js's verifier (timestamps, certificate chain at each timestamp, SCTs, tlog SET/inclusion
 * proof and body, signature) under one trusted root, without any identity policy: identities are compared
 * by the policy layer. What the root lists decides what is required: SCTs only when it lists CT logs; a
 * root without transparency logs cannot vouch for a log entry, so its time must come from its own
 * timestamp authorities. This stays ours with sigstore-js 4: its Verifier takes one trust material and fixed
 * thresholds, while the proxy trusts several roots at once (public-good beside GitHub's or a private
 * instance, see root-attempts.ts), each with the requirements its own contents imply.
 */
export function runSigstore(root: RootInstance, run: SigstoreRun): void {
  const bundle = run.parsed ?? parseBundle(run.bundle);
  let entity: SignedEntity = toSignedEntity(bundle, run.artifact);
  if (run.tlogCheckedByCaller) entity = { ...entity, tlogEntries: [] };
  let { tlogThreshold, timestampThreshold } = run;
  if (!root.hasTlogs) {
    entity = { ...entity, tlogEntries: [], timestamps: entity.timestamps.filter((t) => t.$case === 'timestamp-authority') };
    tlogThreshold = 0;
  }
  const timed = entity.timestamps.filter((t) => t.$case === 'timestamp-authority' || t.tlogEntry.inclusionPromise !== undefined);
  if (entity.key.$case === 'certificate' && timed.length === 0) {
    // sigstore-js 4 still reads the chain only per timestamp and then crashes on an empty path: a
    // short-lived certificate needs a verified time, so say so with a code.
    throw new VerifyFailure('TIMESTAMP', noTimeReason(root, entity));
  }
  if (run.key?.asymmetricKeyType === 'ed25519' && bundle.content.$case === 'messageSignature' && run.artifact) {
    // sigstore-js 4 still verifies message signatures with a hash algorithm, which pure Ed25519 rejects.
    const artifact = run.artifact;
    entity = withSignatureCheck(entity, (k, sig) => safeEd25519(artifact, k, sig));
  } else if (run.signedDigest && bundle.content.$case === 'messageSignature' && !run.artifact) {
    const { digest, hash } = run.signedDigest;
    entity = withSignatureCheck(entity, (k, sig) => verifyPrehashed(k, digest, hash, sig));
  }
  if (run.hashed && bundle.content.$case === 'dsseEnvelope') entity = withDigests(entity, run.hashed, bundle.content.dsseEnvelope);
  const key = run.key;
  const tm: TrustMaterial = {
    ...root.material,
    publicKey: (hint: string) => {
      if (!key) throw new VerifyFailure('UNTRUSTED_KEY', `no configured key for hint "${hint}"`);
      return { publicKey: key, validFor: () => true };
    },
  };
  const verifier = new Verifier(tm, { tlogThreshold, timestampThreshold, ctlogThreshold: root.hasCtlogs ? 1 : 0 });
  verifier.verify(entity);
}

/** Why a certificate has no verified time; a Rekor v2 entry (a proof, no signed time) is named as such. */
function noTimeReason(root: RootInstance, entity: SignedEntity): string {
  if (!root.hasTlogs) return 'no RFC 3161 timestamp for the certificate (its root lists no transparency log)';
  if (entity.tlogEntries.length > 0) {
    return 'the transparency log entry carries no signed time (a Rekor v2 entry never does) and the bundle has no RFC 3161 timestamp';
  }
  return 'no transparency log entry or trusted timestamp for the certificate';
}

type SignatureChecks = SignedEntity['signature'];

/** The entity with some of its signature's checks replaced; the others are its own. */
function withChecks(entity: SignedEntity, replace: Partial<Omit<SignatureChecks, 'signature'>>): SignedEntity {
  const sig = entity.signature;
  return {
    ...entity,
    signature: {
      signature: sig.signature,
      compareSignature: replace.compareSignature ?? sig.compareSignature.bind(sig),
      compareDigest: replace.compareDigest ?? sig.compareDigest.bind(sig),
      compareSignedDigest: replace.compareSignedDigest ?? sig.compareSignedDigest.bind(sig),
      verifySignature: replace.verifySignature ?? sig.verifySignature.bind(sig),
    },
  };
}

function withSignatureCheck(entity: SignedEntity, check: (key: KeyObject, signature: Buffer) => boolean): SignedEntity {
  return withChecks(entity, { verifySignature: (k) => check(k, entity.signature.signature) });
}

/**
 * A large DSSE payload whose digests were computed beforehand (off the event loop): the log entry's hashes are
 * compared with those, and an ECDSA or RSA signature is checked over the pre-authentication encoding in
 * pieces, with SHA-256 as sigstore-js does (each key's default), rather than over a copy of it. Other keys
 * (pure Ed25519) are checked by sigstore-js as before.
 */
function withDigests(entity: SignedEntity, hashed: { payloadSha256: Buffer; paeSha256: Buffer }, env: { payloadType: string; payload: Buffer }): SignedEntity {
  const sig = entity.signature;
  return withChecks(entity, {
    compareDigest: (digest: Buffer) => digest.equals(hashed.payloadSha256),
    compareSignedDigest: (digest: Buffer) => digest.equals(hashed.paeSha256),
    verifySignature: (k) => (k.asymmetricKeyType === 'ec' || k.asymmetricKeyType === 'rsa' ? verifyPae(k, env, sig.signature) : sig.verifySignature(k)),
  });
}

function verifyPae(key: KeyObject, env: { payloadType: string; payload: Buffer }, signature: Buffer): boolean {
  try {
    return updateWithPae(createVerify('sha256'), env.payloadType, env.payload).verify(key, signature);
  } catch {
    return false;
  }
}

function safeEd25519(data: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return cryptoVerify(null, data, key, sig);
  } catch {
    return false;
  }
}
