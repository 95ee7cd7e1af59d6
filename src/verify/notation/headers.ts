import { X509Certificate } from 'node:crypto';
import { VerifyFailure } from '../verify-error.js';

export const NOTATION_ARTIFACT_TYPE = 'application/vnd.cncf.notary.signature';
export const JWS_MEDIA_TYPE = 'application/jose+json';
export const COSE_MEDIA_TYPE = 'application/cose';
export const PAYLOAD_CONTENT_TYPE = 'application/vnd.cncf.notary.payload.v1+json';

export const SIGNING_SCHEME = 'io.cncf.notary.signingScheme';
export const SIGNING_TIME = 'io.cncf.notary.signingTime';
export const AUTHENTIC_SIGNING_TIME = 'io.cncf.notary.authenticSigningTime';
export const EXPIRY = 'io.cncf.notary.expiry';
export const SCHEMES = ['notary.x509', 'notary.x509.signingAuthority'] as const;
export type SigningScheme = (typeof SCHEMES)[number];

/**
 * The critical headers this verifier understands. Anything else marked critical (a verification plugin, a
 * future extension) fails, as the specification requires of a verifier that does not know it.
 */
export const KNOWN_CRITICAL: readonly string[] = [SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY];

/** What both envelope formats carry, once decoded: the verifier judges this, never the raw envelope. */
export interface NotationEnvelope {
  format: 'jws' | 'cose';
  /** The signed payload bytes (a JSON `{"targetArtifact": descriptor}`). */
  payload: Buffer;
  signingScheme: SigningScheme;
  /** `signingTime` (claimed) or `authenticSigningTime` (authenticated by the signing authority). */
  signingTime: Date;
  expiry?: Date;
  /** Leaf first. */
  chain: X509Certificate[];
  /** The raw signature value: what an RFC 3161 countersignature is computed over. */
  signature: Buffer;
  /** DER of an RFC 3161 TimeStampToken from the unprotected header, when there is one. */
  timestampToken?: Buffer;
  /** Checks the signature with the leaf's key; throws VerifyFailure. */
  verifySignature(): Promise<void>;
}

/** The protected header's signing facts, with time values already decoded. */
export interface SignedHeaders {
  crit: unknown;
  scheme: unknown;
  signingTime: unknown;
  authenticSigningTime: unknown;
  expiry: unknown;
  contentType: unknown;
  /** Every label present in the protected header, for `crit` entries that name absent headers. */
  present: ReadonlySet<string>;
}

/**
 * Enforces the specification's rules for critical headers and signing schemes (both envelopes share them):
 * `crit` lists the signing scheme, the expiry when present, and the authentic signing time under
 * `notary.x509.signingAuthority`; every `crit` entry is present and understood.
 */
export function checkSignedHeaders(h: SignedHeaders): Pick<NotationEnvelope, 'signingScheme' | 'signingTime' | 'expiry'> {
  if (h.contentType !== PAYLOAD_CONTENT_TYPE) throw malformed(`content type is ${JSON.stringify(h.contentType)}, not ${PAYLOAD_CONTENT_TYPE}`);
  if (!Array.isArray(h.crit) || h.crit.length === 0) throw malformed('the protected header has no "crit" list');
  const crit = h.crit.map(String);
  for (const name of crit) {
    if (!KNOWN_CRITICAL.includes(name)) throw new VerifyFailure('UNSUPPORTED', `unknown critical header "${name}"`);
    if (!h.present.has(name)) throw malformed(`critical header "${name}" is not in the protected header`);
  }
  if (typeof h.scheme !== 'string' || !(SCHEMES as readonly string[]).includes(h.scheme)) {
    throw new VerifyFailure('UNSUPPORTED', `signing scheme ${JSON.stringify(h.scheme)} is not ${SCHEMES.join(' or ')}`);
  }
  const scheme = h.scheme as SigningScheme;
  if (!crit.includes(SIGNING_SCHEME)) throw malformed(`"${SIGNING_SCHEME}" is not marked critical`);
  let signingTime: Date;
  if (scheme === 'notary.x509') {
    signingTime = time(h.signingTime, SIGNING_TIME);
    if (h.authenticSigningTime !== undefined) throw malformed(`"${AUTHENTIC_SIGNING_TIME}" is not allowed with notary.x509`);
  } else {
    signingTime = time(h.authenticSigningTime, AUTHENTIC_SIGNING_TIME);
    if (!crit.includes(AUTHENTIC_SIGNING_TIME)) throw malformed(`"${AUTHENTIC_SIGNING_TIME}" is not marked critical`);
  }
  let expiry: Date | undefined;
  if (h.expiry !== undefined) {
    expiry = time(h.expiry, EXPIRY);
    if (!crit.includes(EXPIRY)) throw malformed(`"${EXPIRY}" is not marked critical`);
    if (expiry.getTime() < signingTime.getTime()) throw malformed('the expiry is earlier than the signing time');
  }
  return { signingScheme: scheme, signingTime, ...(expiry ? { expiry } : {}) };
}

function time(value: unknown, name: string): Date {
  const d = value instanceof Date ? value : typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value) ? new Date(value) : undefined;
  if (!d || Number.isNaN(d.getTime())) throw malformed(`"${name}" is missing or not a time`);
  return d;
}

const MAX_CHAIN = 10;

export function malformed(message: string): VerifyFailure {
  return new VerifyFailure('MALFORMED', message);
}

/** Certificates as the envelope carries them (DER), leaf first; an empty or unreadable chain is malformed. */
export function parseChain(ders: unknown): X509Certificate[] {
  if (!Array.isArray(ders) || ders.length === 0) throw malformed('the envelope carries no certificate chain');
  // Path validation costs per certificate; a real chain is a leaf, an intermediate or two and a root.
  if (ders.length > MAX_CHAIN) throw malformed(`the certificate chain has ${ders.length} certificates; at most ${MAX_CHAIN} are accepted`);
  return ders.map((d, i) => {
    try {
      return new X509Certificate(d as Buffer);
    } catch (err) {
      throw malformed(`certificate ${i} of the chain does not parse: ${(err as Error).message}`);
    }
  });
}
