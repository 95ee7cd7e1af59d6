import { createHash, randomBytes } from 'node:crypto';
import * as der from './der.js';
import type { TestKey } from './keys.js';

/** X.509 building blocks: names, extensions, TBS assembly and signing by an ECDSA issuer key. */

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  sct: '1.3.6.1.4.1.11129.2.4.2',
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
} as const;

export interface NameSpec {
  organization?: string;
  commonName?: string;
}

/** Distinguished name; an empty spec gives the empty SEQUENCE Fulcio leaf certificates carry. */
export function name(spec: NameSpec): Buffer {
  const rdns: Buffer[] = [];
  const attr = (type: string, value: string): Buffer => der.set(der.sequence(der.oid(type), der.utf8String(value)));
  if (spec.organization) rdns.push(attr(OID.organization, spec.organization));
  if (spec.commonName) rdns.push(attr(OID.commonName, spec.commonName));
  return der.sequence(...rdns);
}

export function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

export function keyIdentifier(spkiDer: Buffer): Buffer {
  return createHash('sha1').update(spkiDer).digest();
}

export const ext = {
  basicConstraints(ca: boolean, pathLen?: number): Buffer {
    const items = ca ? [der.boolean(true), ...(pathLen === undefined ? [] : [der.integer(pathLen)])] : [];
    return extension(OID.basicConstraints, true, der.sequence(...items));
  },
  /** Bits: 0 digitalSignature, 5 keyCertSign, 6 cRLSign. */
  keyUsage(bits: number[]): Buffer {
    return extension(OID.keyUsage, true, der.namedBits(bits));
  },
  extKeyUsage(...oids: string[]): Buffer {
    return extension(OID.extKeyUsage, false, der.sequence(...oids.map((o) => der.oid(o))));
  },
  subjectKeyId(spkiDer: Buffer): Buffer {
    return extension(OID.subjectKeyId, false, der.octetString(keyIdentifier(spkiDer)));
  },
  authorityKeyId(issuerSpkiDer: Buffer): Buffer {
    return extension(OID.authorityKeyId, false, der.sequence(der.implicit(0, keyIdentifier(issuerSpkiDer))));
  },
  /** SAN with an rfc822Name ([1]) or URI ([6]); critical because Fulcio leaves have an empty subject. */
  subjectAltName(san: { email?: string; uri?: string }): Buffer {
    const names: Buffer[] = [];
    if (san.email) names.push(der.implicit(1, Buffer.from(san.email, 'ascii')));
    if (san.uri) names.push(der.implicit(6, Buffer.from(san.uri, 'ascii')));
    return extension(OID.subjectAltName, true, der.sequence(...names));
  },
  /** Fulcio 1.3.6.1.4.1.57264.1.1: the raw string, not DER-wrapped (deprecated form). */
  rawString(oid: string, value: string): Buffer {
    return extension(oid, false, Buffer.from(value, 'utf8'));
  },
  /** Fulcio 1.3.6.1.4.1.57264.1.8 and later: DER UTF8String. */
  utf8(oid: string, value: string): Buffer {
    return extension(oid, false, der.utf8String(value));
  },
};

export interface TbsSpec {
  serial?: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKeyDer: Buffer;
  extensions: Buffer[];
  issuerKey: TestKey;
}

function signatureAlgorithm(issuerKey: TestKey): Buffer {
  if (issuerKey.algorithm === 'ecdsa-p256') return der.sequence(der.oid(OID.ecdsaSha256));
  if (issuerKey.algorithm === 'ecdsa-p384') return der.sequence(der.oid(OID.ecdsaSha384));
  throw new Error(`test CA keys must be ECDSA, got ${issuerKey.algorithm}`);
}

/** A positive 20-byte serial, as Fulcio issues. */
export function randomSerial(): Buffer {
  const bytes = randomBytes(20);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

export function tbsCertificate(spec: TbsSpec): Buffer {
  return der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(spec.serial ?? randomSerial()),
    signatureAlgorithm(spec.issuerKey),
    spec.issuer,
    der.sequence(der.time(spec.notBefore), der.time(spec.notAfter)),
    spec.subject,
    spec.subjectPublicKeyDer,
    der.explicit(3, der.sequence(...spec.extensions)),
  );
}

export function signTbs(tbs: Buffer, issuerKey: TestKey): Buffer {
  return der.sequence(tbs, signatureAlgorithm(issuerKey), der.bitString(issuerKey.sign(tbs)));
}
