import { X509Certificate } from '@sigstore/core';
import { createTestCtLog, sctListExtension, type TestCtLog } from './ct-log.js';
import { derToPem, generateKey, type TestKey } from './keys.js';
import { ext, name, OID, randomSerial, signTbs, tbsCertificate } from './x509.js';

/** A test Fulcio: a root and an intermediate CA (ECDSA P-256) issuing short-lived code-signing leaves. */

export interface CaCertificate {
  readonly key: TestKey;
  readonly der: Buffer;
  readonly pem: string;
}

export interface LeafOptions {
  /** SAN rfc822Name; the default when neither email nor uri is given is `signer@portcullis.test`. */
  email?: string;
  /** SAN URI, e.g. a GitHub workflow identity. */
  uri?: string;
  /** OIDC issuer written to 1.3.6.1.4.1.57264.1.1 and .1.8. */
  issuer?: string;
  /** Which issuer extensions to write (default both). */
  issuerExtensions?: 'both' | 'v1-only' | 'v2-only' | 'none';
  /** Further Fulcio extensions as OID → DER UTF8String value (e.g. .1.12 source repository URI). */
  extraExtensions?: Record<string, string>;
  /** Default: one minute ago. */
  notBefore?: Date;
  /** Default: ten minutes after notBefore (Fulcio's lifetime). */
  notAfter?: Date;
  /** The ephemeral signing key; generated when absent. */
  key?: TestKey;
  /** valid: SCT from the CA's trusted CT log; untrusted-log: from a log not in any trusted root;
   * bad-signature: trusted log, but signed over a different precertificate; none: no SCT extension. */
  sct?: 'valid' | 'untrusted-log' | 'bad-signature' | 'none';
}

export interface IssuedCertificate {
  /** The ephemeral key the certificate binds; sign with this. */
  readonly key: TestKey;
  readonly der: Buffer;
  readonly pem: string;
  /** Intermediate then root, DER. */
  readonly chain: Buffer[];
  /** Intermediate then root, concatenated PEM (the `dev.sigstore.cosign/chain` annotation). */
  readonly chainPem: string;
  readonly subjectAlternativeName: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface TestFulcio {
  readonly root: CaCertificate;
  readonly intermediate: CaCertificate;
  readonly ctLog: TestCtLog;
  readonly validFrom: Date;
  readonly validTo: Date;
  issue(opts?: LeafOptions): IssuedCertificate;
}

const YEAR_MS = 365 * 86400_000;
const ROOT_NAME = name({ organization: 'portcullis.test', commonName: 'portcullis-test-root' });
const INTERMEDIATE_NAME = name({ organization: 'portcullis.test', commonName: 'portcullis-test-intermediate' });

export function createTestFulcio(opts: { ctLog?: TestCtLog; validFrom?: Date; validTo?: Date } = {}): TestFulcio {
  const ctLog = opts.ctLog ?? createTestCtLog();
  const validFrom = opts.validFrom ?? new Date(Date.now() - 10 * YEAR_MS);
  const validTo = opts.validTo ?? new Date(Date.now() + 10 * YEAR_MS);
  const rootKey = generateKey('ecdsa-p256');
  const intKey = generateKey('ecdsa-p256');
  const rootDer = signTbs(
    tbsCertificate({
      issuer: ROOT_NAME,
      subject: ROOT_NAME,
      notBefore: validFrom,
      notAfter: validTo,
      subjectPublicKeyDer: rootKey.publicKeyDer,
      issuerKey: rootKey,
      extensions: [ext.keyUsage([5, 6]), ext.basicConstraints(true, 1), ext.subjectKeyId(rootKey.publicKeyDer)],
    }),
    rootKey,
  );
  const intDer = signTbs(
    tbsCertificate({
      issuer: ROOT_NAME,
      subject: INTERMEDIATE_NAME,
      notBefore: validFrom,
      notAfter: validTo,
      subjectPublicKeyDer: intKey.publicKeyDer,
      issuerKey: rootKey,
      extensions: [
        ext.keyUsage([5, 6]),
        ext.extKeyUsage(OID.codeSigning),
        ext.basicConstraints(true, 0),
        ext.subjectKeyId(intKey.publicKeyDer),
        ext.authorityKeyId(rootKey.publicKeyDer),
      ],
    }),
    rootKey,
  );
  const root = { key: rootKey, der: rootDer, pem: derToPem(rootDer) };
  const intermediate = { key: intKey, der: intDer, pem: derToPem(intDer) };
  return {
    root,
    intermediate,
    ctLog,
    validFrom,
    validTo,
    issue: (leafOpts = {}) => issueLeaf(leafOpts, root, intermediate, ctLog),
  };
}

function issueLeaf(opts: LeafOptions, root: CaCertificate, ca: CaCertificate, ctLog: TestCtLog): IssuedCertificate {
  const key = opts.key ?? generateKey('ecdsa-p256');
  const email = opts.email ?? (opts.uri ? undefined : 'signer@portcullis.test');
  const issuer = opts.issuer ?? 'https://oidc.portcullis.test';
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 10 * 60_000);
  const mode = opts.issuerExtensions ?? 'both';
  const extensions = [
    ext.keyUsage([0]),
    ext.extKeyUsage(OID.codeSigning),
    ext.subjectKeyId(key.publicKeyDer),
    ext.authorityKeyId(ca.key.publicKeyDer),
    ext.subjectAltName({ email, uri: opts.uri }),
    ...(mode === 'both' || mode === 'v1-only' ? [ext.rawString(OID.fulcioIssuerV1, issuer)] : []),
    ...(mode === 'both' || mode === 'v2-only' ? [ext.utf8(OID.fulcioIssuerV2, issuer)] : []),
    ...Object.entries(opts.extraExtensions ?? {}).map(([oid, value]) => ext.utf8(oid, value)),
  ];
  const sctMode = opts.sct ?? 'valid';
  // ECDSA signatures are randomized; retry in the (rare) case a parser's re-encoding of the
  // certificate differs from ours, which would make the certificate unverifiable.
  for (let attempt = 0; attempt < 8; attempt++) {
    const serial = randomSerial();
    const base = { serial, issuer: INTERMEDIATE_NAME, subject: name({}), notBefore, notAfter };
    const tbsSpec = { ...base, subjectPublicKeyDer: key.publicKeyDer, issuerKey: ca.key };
    const precert = tbsCertificate({ ...tbsSpec, extensions });
    let finalExtensions = extensions;
    if (sctMode !== 'none') {
      const log = sctMode === 'untrusted-log' ? createTestCtLog() : ctLog;
      const signedTbs =
        sctMode === 'bad-signature' ? tbsCertificate({ ...tbsSpec, serial: randomSerial(), extensions }) : precert;
      finalExtensions = [...extensions, sctListExtension([log.signSct(signedTbs, ca.key.publicKeyDer, notBefore)])];
    }
    const tbs = tbsCertificate({ ...tbsSpec, extensions: finalExtensions });
    const certDer = signTbs(tbs, ca.key);
    if (!X509Certificate.parse(Buffer.from(certDer)).tbsCertificate.toDER().equals(tbs)) continue;
    return {
      key,
      der: certDer,
      pem: derToPem(certDer),
      chain: [ca.der, root.der],
      chainPem: ca.pem + root.pem,
      subjectAlternativeName: (opts.uri ?? email)!,
      issuer,
      notBefore,
      notAfter,
    };
  }
  throw new Error('could not produce a canonically re-encodable certificate');
}
