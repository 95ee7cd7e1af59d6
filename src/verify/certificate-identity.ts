import { X509Certificate as NodeX509, createPublicKey, type KeyObject } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { readFulcioExtensions } from './fulcio-extensions.js';
import { VerifyFailure } from './verify-error.js';

const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SAN = '2.5.29.17';
const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

export interface CertIdentity {
  /** Absent on certificates without an OIDC issuer extension (GitHub's long-lived release-attestation certificate). */
  issuer?: string;
  subject: string;
  /** Fulcio extensions by sigstore-go name (`sourceRepositoryURI`, …). */
  extensions: Record<string, string>;
  publicKey: KeyObject;
}

/**
 * Reads the signer identity of a Fulcio leaf: issuer from OID .1.8 (DER UTF8String) falling back to .1.1
 * (raw), subject = the SAN (URI, email, or otherName such as Fulcio's username SAN), and the Fulcio
 * extensions. Also enforces the codeSigning EKU that sigstore-js does not check.
 */
export function certIdentity(der: Buffer): CertIdentity {
  let cert: X509Certificate;
  let node: NodeX509;
  try {
    cert = X509Certificate.parse(Buffer.from(der));
    node = new NodeX509(der);
  } catch (err) {
    throw new VerifyFailure('MALFORMED', `certificate does not parse: ${(err as Error).message}`);
  }
  const eku = node.keyUsage;
  if (!Array.isArray(eku) || !eku.includes(EKU_CODE_SIGNING)) {
    throw new VerifyFailure('CERT_CHAIN', 'leaf certificate lacks the codeSigning extended key usage');
  }
  const issuer = readIssuer(cert);
  const subject = readSan(cert);
  if (!subject) throw new VerifyFailure('CERT_CHAIN', 'certificate has no URI, email or otherName SAN');
  const publicKey = createPublicKey(node.publicKey.export({ type: 'spki', format: 'pem' }));
  return { ...(issuer ? { issuer } : {}), subject, extensions: readFulcioExtensions(cert), publicKey };
}

function readIssuer(cert: X509Certificate): string | undefined {
  const v2 = cert.extension(OID_ISSUER_V2);
  if (v2) {
    const inner = v2.valueObj.subs?.[0];
    return inner ? inner.value.toString('utf8') : undefined;
  }
  return cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
}

/** The first URI, email or otherName general name. Fulcio certificates carry exactly one. */
function readSan(cert: X509Certificate): string | undefined {
  const ext = cert.extension(OID_SAN);
  const names = ext?.valueObj.subs?.[0]?.subs ?? [];
  for (const gn of names) {
    if (gn.tag.isContextSpecific(0x06) || gn.tag.isContextSpecific(0x01)) return gn.value.toString('utf8');
    if (gn.tag.isContextSpecific(0x00)) {
      // otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY } — the value is a UTF8String.
      const value = gn.subs[1]?.subs[0];
      if (value) return value.value.toString('utf8');
    }
  }
  return undefined;
}

/** Decodes a PEM block (or several) to DER buffers. */
export function pemToDers(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}
