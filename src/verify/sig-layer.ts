import { sha256Hex, type Digest } from '../oci/digest.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import type { TlogEvidence, VerifiedSignature } from './types.js';
import { verifyWithKey } from './key-signature.js';
import { ANN, readLegacyMaterial, tsaTime, type VerifyContext } from './legacy-annotations.js';
import { checkEntryKey, checkHashedRekord, tlogEvidence, toTlogEntryJson, verifySet } from './rekor-bundle.js';
import { chainedRoots, verifySetUnderRoots } from './root-attempts.js';
import { runSigstore } from './sigstore-run.js';
import { VerifyFailure } from './verify-error.js';

const SIGNATURE_TYPE = 'cosign container image signature';

export interface LegacyLayer {
  mediaType: string;
  annotations: Record<string, string>;
  blob: Buffer;
}

/**
 * Verifies one layer of a cosign `.sig` manifest: the simple-signing claim must name the subject, and the
 * signature must verify with a configured key (each matching key yields a signature) or with a Fulcio
 * certificate chained to a trusted root at a verified log or TSA time. Throws VerifyFailure.
 */
export function verifySigLayer(layer: LegacyLayer, subject: Digest, artifactDigest: string, ctx: VerifyContext): VerifiedSignature[] {
  if (layer.mediaType !== MEDIA_TYPES.cosignSimpleSigning) {
    throw new VerifyFailure('UNSUPPORTED', `layer media type "${layer.mediaType}" is not a cosign simple-signing payload`);
  }
  checkClaim(layer.blob, subject);
  const sigB64 = layer.annotations[ANN.signature];
  if (!sigB64) throw new VerifyFailure('MALFORMED', 'layer has no signature annotation');
  const signature = Buffer.from(sigB64, 'base64');
  const m = readLegacyMaterial(layer.annotations);
  const payloadHex = sha256Hex(layer.blob);

  if (m.cert) {
    const rekor = m.rekor;
    if (rekor) {
      checkEntryKey(rekor, m.cert.identity.publicKey);
      if (rekor.entry.kind !== 'hashedrekord') throw new VerifyFailure('UNSUPPORTED', `Rekor entry kind ${rekor.entry.kind} ${rekor.entry.apiVersion}`);
    }
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: { certificates: [{ rawBytes: m.cert.der.toString('base64') }] },
        tlogEntries: rekor ? [toTlogEntryJson(rekor)] : [],
        timestampVerificationData: { rfc3161Timestamps: m.rfc3161 ? [{ signedTimestamp: m.rfc3161 }] : [] },
      },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(payloadHex, 'hex').toString('base64') },
        signature: sigB64,
      },
    };
    const chained = chainedRoots(ctx.roots, (root) => {
      // Checked here as well as by sigstore-js: this also refuses integrated times in the future.
      if (rekor && root.hasTlogs) verifySet(rekor, root.material, ctx.now);
      runSigstore(root, { bundle, artifact: layer.blob, tlogThreshold: rekor ? 1 : 0, timestampThreshold: 1 });
    });
    const { issuer, subject, extensions } = m.cert.identity;
    const sig: VerifiedSignature = {
      source: 'sig-tag',
      artifactDigest,
      signer: { type: 'keyless', ...(issuer !== undefined && { issuer }), subject, roots: chained.roots, extensions },
    };
    if (rekor && chained.tlogVerified) sig.tlog = tlogEvidence(rekor);
    const ts = m.rfc3161 ? tsaTime(m.rfc3161) : undefined;
    if (ts) sig.timestamp = ts;
    return [sig];
  }

  if (ctx.keys.size === 0) throw new VerifyFailure('UNTRUSTED_KEY', 'key signature, but no keys are configured');
  const matched = [...ctx.keys].filter(([, key]) => verifyWithKey(key, layer.blob, signature));
  if (matched.length === 0) throw new VerifyFailure('SIGNATURE_INVALID', 'signature does not verify with any configured key');
  let tlog: TlogEvidence | undefined;
  if (m.rekor) {
    // A log entry that is present must be genuine and about this signature, or the layer is rejected.
    tlog = verifySetUnderRoots(m.rekor, ctx.roots, ctx.now);
    checkHashedRekord(m.rekor, signature, layer.blob);
    for (const [, key] of matched) checkEntryKey(m.rekor, key);
  }
  return matched.map(([name]) => {
    const sig: VerifiedSignature = { source: 'sig-tag', artifactDigest, signer: { type: 'key', key: name } };
    if (tlog) sig.tlog = tlog;
    return sig;
  });
}

/** cosign's SimpleClaimVerifier: the signed payload must name this manifest digest. */
function checkClaim(blob: Buffer, subject: Digest): void {
  let doc: any;
  try {
    doc = JSON.parse(blob.toString('utf8'));
  } catch {
    throw new VerifyFailure('MALFORMED', 'simple-signing payload is not JSON');
  }
  const critical = doc?.critical;
  if (critical?.type !== SIGNATURE_TYPE) {
    throw new VerifyFailure('MALFORMED', `payload critical.type is ${JSON.stringify(critical?.type)}, not "${SIGNATURE_TYPE}"`);
  }
  const named = critical?.image?.['docker-manifest-digest'];
  if (named !== subject) {
    throw new VerifyFailure('DIGEST_MISMATCH', `signed payload names ${typeof named === 'string' ? named : 'no digest'} not ${subject}`);
  }
}
