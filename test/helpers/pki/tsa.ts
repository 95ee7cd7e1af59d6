import { createHash, randomBytes } from 'node:crypto';
import * as der from './der.js';
import type { CaCertificate } from './fulcio.js';
import { derToPem, generateKey } from './keys.js';
import { ext, name, OID, randomSerial, signTbs, tbsCertificate } from './x509.js';

/**
 * A test RFC 3161 timestamp authority: a root and a timestamping leaf (ECDSA P-256), listed in a trusted
 * root's `timestampAuthorities`. `timestamp(data)` answers a TimeStampResp (RFC 3161 §2.4.2) whose token is
 * CMS SignedData over a TSTInfo with a sha256 message imprint of `data`, with the contentType and
 * messageDigest signed attributes that @sigstore/core's RFC3161Timestamp checks. Sigstore bundles carry
 * it base64 in `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`,
 * stamped over the signature bytes.
 */
export interface TestTsa {
  readonly root: CaCertificate;
  readonly leaf: CaCertificate;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** DER TimeStampResp for `data` at `at` (default: now). */
  timestamp(data: Buffer, at?: Date): Buffer;
}

const TSA_OID = {
  timeStamping: '1.3.6.1.5.5.7.3.8',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  policy: '1.3.6.1.4.1.57264.2',
} as const;

const YEAR_MS = 365 * 86400_000;

export function createTestTsa(opts: { commonName?: string; validFrom?: Date; validTo?: Date } = {}): TestTsa {
  const validFrom = opts.validFrom ?? new Date(Date.now() - 10 * YEAR_MS);
  const validTo = opts.validTo ?? new Date(Date.now() + 10 * YEAR_MS);
  const cn = opts.commonName ?? 'portcullis-test-tsa';
  const rootName = name({ organization: 'portcullis.test', commonName: `${cn}-root` });
  const leafName = name({ organization: 'portcullis.test', commonName: cn });
  const rootKey = generateKey('ecdsa-p256');
  const leafKey = generateKey('ecdsa-p256');
  const validity = { notBefore: validFrom, notAfter: validTo };
  const rootDer = signTbs(
    tbsCertificate({
      issuer: rootName, subject: rootName, ...validity, subjectPublicKeyDer: rootKey.publicKeyDer, issuerKey: rootKey,
      extensions: [ext.keyUsage([5, 6]), ext.basicConstraints(true, 0), ext.subjectKeyId(rootKey.publicKeyDer)],
    }),
    rootKey,
  );
  const leafSerial = randomSerial();
  const leafDer = signTbs(
    tbsCertificate({
      serial: leafSerial, issuer: rootName, subject: leafName, ...validity, subjectPublicKeyDer: leafKey.publicKeyDer, issuerKey: rootKey,
      extensions: [
        ext.keyUsage([0]),
        // RFC 3161 §2.3: the timestamping EKU, critical.
        der.sequence(der.oid(OID.extKeyUsage), der.boolean(true), der.octetString(der.sequence(der.oid(TSA_OID.timeStamping)))),
        ext.subjectKeyId(leafKey.publicKeyDer),
        ext.authorityKeyId(rootKey.publicKeyDer),
      ],
    }),
    rootKey,
  );
  const algorithm = der.sequence(der.oid(TSA_OID.sha256));

  const timestamp = (data: Buffer, at = new Date()): Buffer => {
    const tstInfo = der.sequence(
      der.integer(1),
      der.oid(TSA_OID.policy),
      der.sequence(algorithm, der.octetString(createHash('sha256').update(data).digest())),
      der.integer(randomBytes(16)),
      generalizedTime(at),
    );
    const attributes = [
      der.sequence(der.oid(TSA_OID.contentType), der.set(der.oid(TSA_OID.tstInfo))),
      der.sequence(der.oid(TSA_OID.messageDigest), der.set(der.octetString(createHash('sha256').update(tstInfo).digest()))),
    ].sort(Buffer.compare); // DER orders a SET OF by encoding
    const signedAttrs = der.set(...attributes);
    const signerInfo = der.sequence(
      der.integer(1),
      der.sequence(rootName, der.integer(leafSerial)), // issuerAndSerialNumber of the signing certificate
      algorithm,
      der.tlv(0xa0, Buffer.concat(attributes)), // [0] IMPLICIT: signed as the SET above
      der.sequence(der.oid(OID.ecdsaSha256)),
      der.octetString(leafKey.sign(signedAttrs)),
    );
    const signedData = der.sequence(
      der.integer(3),
      der.set(algorithm),
      der.sequence(der.oid(TSA_OID.tstInfo), der.explicit(0, der.octetString(tstInfo))),
      der.tlv(0xa0, leafDer), // certificates [0] IMPLICIT
      der.set(signerInfo),
    );
    const token = der.sequence(der.oid(TSA_OID.signedData), der.explicit(0, signedData));
    return der.sequence(der.sequence(der.integer(0)), token);
  };

  return {
    root: { key: rootKey, der: rootDer, pem: derToPem(rootDer) },
    leaf: { key: leafKey, der: leafDer, pem: derToPem(leafDer) },
    validFrom,
    validTo,
    timestamp,
  };
}

function generalizedTime(date: Date): Buffer {
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
  return der.tlv(0x18, Buffer.from(iso.replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z'), 'ascii'));
}
