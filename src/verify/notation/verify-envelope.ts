import { isObject } from '../../oci/manifest.js';
import type { NotationSigner } from '../types.js';
import { VerifyFailure } from '../verify-error.js';
import { checkCodeSigningLeaf, chainsTo, expiredAt } from './chain.js';
import { parseCoseEnvelope } from './envelope-cose.js';
import { parseJwsEnvelope } from './envelope-jws.js';
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, malformed, type NotationEnvelope } from './headers.js';
import { subjectString } from './dn.js';
import { verifyTimestamp } from './timestamp.js';
import type { NotationTrust } from './trust-store.js';

/** The manifest a signature must name: its digest, media type and size, exactly. */
export interface SignedDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * Judges one envelope as `notation verify` does at its strict level, in its order: integrity (the envelope
 * parses, its signature verifies, it names this manifest), expiry, authenticity (the chain validates to a
 * store of the scheme's kind), and the time certificates must be valid at. Trusted identity is the rule's
 * business (policy compares subjects), so the evidence keeps the subject and every store the chain reached.
 * Throws VerifyFailure with the reason.
 */
export async function verifyNotationEnvelope(
  bytes: Buffer,
  mediaType: string,
  subject: SignedDescriptor,
  trust: NotationTrust,
  now: Date,
): Promise<NotationSigner> {
  const env = parseEnvelope(bytes, mediaType);
  checkTarget(env.payload, subject);
  await env.verifySignature();
  if (env.expiry && now > env.expiry) throw new VerifyFailure('SIGNATURE_INVALID', `the signature expired at ${env.expiry.toISOString()} (io.cncf.notary.expiry)`);
  const leaf = env.chain[0]!;
  checkCodeSigningLeaf(leaf);

  const kind = env.signingScheme === 'notary.x509' ? 'ca' : 'signingAuthority';
  const stores = trust.stores.filter((s) => s.type === kind);
  if (stores.length === 0) throw new VerifyFailure('CERT_CHAIN', `no "${kind}" Notation trust store is configured (trust.notation.trustStoreDir)`);
  // signingAuthority: the signing time is authenticated, so it is the time that counts; notary.x509: now.
  const at = kind === 'signingAuthority' ? env.signingTime : now;
  const base = {
    type: 'notation' as const,
    subject: subjectString(leaf.subject),
    fingerprint: leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    signingScheme: env.signingScheme,
    envelope: env.format,
    signingTime: env.signingTime.toISOString(),
    ...(env.expiry ? { expiry: env.expiry.toISOString() } : {}),
  };
  const reached = await storesReached(env, stores, at);
  if (reached.ids.length) return { ...base, trustStores: reached.ids };

  const expired = expiredAt(env.chain, at);
  if (!expired) throw new VerifyFailure('CERT_CHAIN', `the certificate chain leads to no ${kind} trust store (${reached.why.join('; ')})`);
  // A certificate outside its validity now: an RFC 3161 countersignature from a trusted TSA may vouch for signing time.
  if (kind === 'ca' && env.timestampToken) {
    const stamped = await verifyTimestamp(env.timestampToken, env.signature, trust);
    if (stamped.stores.length) {
      const then = await storesReached(env, stores, stamped.time);
      if (then.ids.length) return { ...base, trustStores: then.ids, timestampStores: stamped.stores };
    }
    throw new VerifyFailure('CERT_CHAIN', `certificate ${expired.subject.split('\n').join(', ')} is not valid at ${at.toISOString()} (valid ${expired.validFrom} to ${expired.validTo}), and the timestamp does not vouch for it: ${stamped.why}`);
  }
  throw new VerifyFailure(
    'CERT_CHAIN',
    `certificate ${expired.subject.split('\n').join(', ')} is not valid at ${at.toISOString()} (valid ${expired.validFrom} to ${expired.validTo}) and the signature has no trusted timestamp`,
  );
}

async function storesReached(env: NotationEnvelope, stores: NotationTrust['stores'], at: Date): Promise<{ ids: string[]; why: string[] }> {
  const ids: string[] = [];
  const why: string[] = [];
  for (const store of stores) {
    const r = await chainsTo(env.chain, store, at);
    if (r.ok) ids.push(store.id);
    else why.push(`${store.id}: ${r.why}`);
  }
  return { ids, why };
}

function parseEnvelope(bytes: Buffer, mediaType: string): NotationEnvelope {
  if (mediaType === JWS_MEDIA_TYPE) return parseJwsEnvelope(bytes);
  if (mediaType === COSE_MEDIA_TYPE) return parseCoseEnvelope(bytes);
  throw new VerifyFailure('UNSUPPORTED', `Notation envelope media type ${mediaType} is not ${JWS_MEDIA_TYPE} or ${COSE_MEDIA_TYPE}`);
}

/** The payload's `targetArtifact` must name this manifest: digest, media type and size (never overridable). */
function checkTarget(payload: Buffer, subject: SignedDescriptor): void {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    throw malformed('the signed payload is not JSON');
  }
  const t = isObject(doc) ? doc.targetArtifact : undefined;
  if (!isObject(t)) throw malformed('the signed payload has no targetArtifact');
  if (t.digest !== subject.digest) throw new VerifyFailure('DIGEST_MISMATCH', `the signature is for ${String(t.digest)}, not ${subject.digest}`);
  if (t.mediaType !== subject.mediaType) throw new VerifyFailure('DIGEST_MISMATCH', `the signature names media type ${String(t.mediaType)}, not ${subject.mediaType}`);
  if (t.size !== subject.size) throw new VerifyFailure('DIGEST_MISMATCH', `the signature names size ${String(t.size)}, not ${subject.size}`);
}
