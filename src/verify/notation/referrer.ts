import type { Digest } from '../../oci/digest.js';
import type { ParsedManifest } from '../../oci/manifest.js';
import type { GuardedSource } from '../guarded-source.js';
import type { TagEvidence } from '../legacy-tags.js';
import { MAX_LAYER_BYTES } from '../legacy-tags.js';
import type { ReferrerBudget } from '../referrer-limits.js';
import type { SubjectManifest } from '../types.js';
import { toReason } from '../verify-error.js';
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, NOTATION_ARTIFACT_TYPE } from './headers.js';
import type { NotationTrust } from './trust-store.js';
import { verifyNotationEnvelope } from './verify-envelope.js';

/**
 * A Notation signature manifest in either form found in the wild: `artifactType` (notation-go 2) or, with no
 * artifactType, a config of the Notation media type (notation 1.x).
 */
export function isNotationSignature(m: ParsedManifest): boolean {
  return !m.isIndex && (m.artifactType === NOTATION_ARTIFACT_TYPE || (m.artifactType === undefined && m.config?.mediaType === NOTATION_ARTIFACT_TYPE));
}

/** Verifies the envelope of one Notation signature manifest; a failure is a rejected artifact with its reason. */
export async function gatherNotationReferrer(
  signature: ParsedManifest,
  signatureDigest: Digest,
  subject: SubjectManifest,
  source: GuardedSource,
  trust: NotationTrust,
  now: Date,
  budget: ReferrerBudget,
  out: TagEvidence,
): Promise<void> {
  const reject = (reason: string) => out.rejected.push({ source: 'referrer', artifactDigest: signatureDigest, reason });
  const envelope = signature.layers.length === 1 ? signature.layers[0]! : undefined;
  if (!envelope || (envelope.mediaType !== JWS_MEDIA_TYPE && envelope.mediaType !== COSE_MEDIA_TYPE)) {
    return void reject(`MALFORMED: a Notation signature has one layer, a ${JWS_MEDIA_TYPE} or ${COSE_MEDIA_TYPE} envelope`);
  }
  if (signature.subject && signature.subject.digest !== subject.digest) {
    return void reject(`DIGEST_MISMATCH: referrer names subject ${signature.subject.digest} not ${subject.digest}`);
  }
  if (envelope.size > MAX_LAYER_BYTES) return void reject(`TOO_LARGE: the envelope is ${envelope.size} bytes; the limit is ${MAX_LAYER_BYTES}`);
  if (!budget.spend(envelope.size, `the envelope of referrer ${signatureDigest}`)) return;
  const bytes = await source.blob(envelope.digest, MAX_LAYER_BYTES);
  if (!bytes) return;
  try {
    const signer = await verifyNotationEnvelope(
      bytes,
      envelope.mediaType,
      { digest: subject.digest, mediaType: subject.parsed.mediaType, size: subject.bytes.length },
      trust,
      now,
    );
    out.signatures.push({ source: 'referrer', artifactDigest: signatureDigest, signer });
  } catch (err) {
    reject(toReason(err));
  }
}
