import { constants, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tag, encode } from 'cbor2';
import { TimeStampResp } from 'pkijs';
import * as der from './der.js';
import { derToPem, generateKey, type KeyAlgorithm, type TestKey } from './keys.js';
import { artifact, describeBlob, MT, type Descriptor, type OciArtifact } from './oci.js';
import { ext, OID, signTbs, tbsCertificate } from './x509.js';

/**
 * Notation (Notary Project) signatures under a throwaway CA: JWS and COSE envelopes shaped as notation
 * writes them, the signature manifest in both forms found in the wild, and a trust store folder.
 */

export const NOTATION = {
  artifactType: 'application/vnd.cncf.notary.signature',
  jws: 'application/jose+json',
  cose: 'application/cose',
  payload: 'application/vnd.cncf.notary.payload.v1+json',
} as const;

export interface Dn {
  C?: string;
  ST?: string;
  O?: string;
  CN?: string;
}

const DN_OIDS: Record<keyof Dn, string> = { C: '2.5.4.6', ST: '2.5.4.8', O: '2.5.4.10', CN: '2.5.4.3' };

export function dnName(dn: Dn): Buffer {
  return der.sequence(
    ...(Object.keys(DN_OIDS) as Array<keyof Dn>)
      .filter((k) => dn[k])
      .map((k) => der.set(der.sequence(der.oid(DN_OIDS[k]), k === 'C' ? der.printableString(dn[k]!) : der.utf8String(dn[k]!)))),
  );
}

export interface NotationCertificate {
  key: TestKey;
  der: Buffer;
  pem: string;
}

export interface NotationCa extends NotationCertificate {
  issue(opts?: LeafOptions): NotationLeaf;
}

export interface LeafOptions {
  subject?: Dn;
  algorithm?: KeyAlgorithm;
  notBefore?: Date;
  notAfter?: Date;
  /** Default true: the code-signing extended key usage. */
  codeSigning?: boolean;
}

export interface NotationLeaf extends NotationCertificate {
  /** Leaf then the CA, DER: the envelope's x5c. */
  chain: Buffer[];
}

const DAY = 86_400_000;

export function createNotationCa(subject: Dn = { C: 'US', ST: 'WA', O: 'Acme', CN: 'Acme Root' }): NotationCa {
  const key = generateKey('ecdsa-p256');
  const name = dnName(subject);
  const caDer = signTbs(
    tbsCertificate({
      issuer: name, subject: name, notBefore: new Date(Date.now() - 365 * DAY), notAfter: new Date(Date.now() + 3650 * DAY),
      subjectPublicKeyDer: key.publicKeyDer, issuerKey: key,
      extensions: [ext.keyUsage([5, 6]), ext.basicConstraints(true, 1), ext.subjectKeyId(key.publicKeyDer)],
    }),
    key,
  );
  const ca = { key, der: caDer, pem: derToPem(caDer) };
  return {
    ...ca,
    issue(opts = {}) {
      const leafKey = generateKey(opts.algorithm ?? 'ecdsa-p256');
      const notBefore = opts.notBefore ?? new Date(Date.now() - DAY);
      const leafDer = signTbs(
        tbsCertificate({
          issuer: name,
          subject: dnName(opts.subject ?? { C: 'US', ST: 'WA', O: 'Acme', CN: 'release' }),
          notBefore,
          notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 30 * DAY),
          subjectPublicKeyDer: leafKey.publicKeyDer,
          issuerKey: key,
          extensions: [
            ext.keyUsage([0]),
            ...(opts.codeSigning === false ? [] : [ext.extKeyUsage(OID.codeSigning)]),
            ext.subjectKeyId(leafKey.publicKeyDer),
            ext.authorityKeyId(key.publicKeyDer),
          ],
        }),
        key,
      );
      return { key: leafKey, der: leafDer, pem: derToPem(leafDer), chain: [leafDer, caDer] };
    },
  };
}

export interface SignOptions {
  signer: NotationLeaf;
  /** The descriptor signed: by default the subject's own. */
  target: Descriptor;
  scheme?: 'notary.x509' | 'notary.x509.signingAuthority';
  signingTime?: Date;
  expiry?: Date;
  /** Further critical headers, added to `crit` and the protected header. */
  extraCritical?: Record<string, string>;
  /** An RFC 3161 authority's answer over the signature value (a TimeStampResp); its token is the countersignature. */
  timestamp?: (signature: Buffer) => Buffer;
}

/** The TimeStampToken out of a TimeStampResp: `SEQUENCE { status, timeStampToken }`. */
function tokenOf(resp: Buffer): Buffer {
  const parsed = TimeStampResp.fromBER(new Uint8Array(resp));
  if (!parsed.timeStampToken) throw new Error('the TSA answered without a token');
  return Buffer.from(parsed.timeStampToken.toSchema().toBER());
}

/** A JWS envelope (flattened JSON) as notation writes it; built by hand so that tests may break its rules. */
export function signJws(o: SignOptions): Buffer {
  const alg = jwsAlg(o.signer.key);
  const scheme = o.scheme ?? 'notary.x509';
  const timeName = scheme === 'notary.x509' ? 'io.cncf.notary.signingTime' : 'io.cncf.notary.authenticSigningTime';
  const header: Record<string, unknown> = {
    alg,
    cty: NOTATION.payload,
    crit: ['io.cncf.notary.signingScheme', ...(scheme !== 'notary.x509' ? [timeName] : []), ...(o.expiry ? ['io.cncf.notary.expiry'] : []), ...Object.keys(o.extraCritical ?? {})],
    'io.cncf.notary.signingScheme': scheme,
    [timeName]: rfc3339(o.signingTime ?? new Date()),
    ...(o.expiry ? { 'io.cncf.notary.expiry': rfc3339(o.expiry) } : {}),
    ...o.extraCritical,
  };
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString('base64url');
  const payloadB64 = payload(o.target).toString('base64url');
  const signature = signWith(o.signer.key, Buffer.from(`${protectedB64}.${payloadB64}`));
  return Buffer.from(JSON.stringify({
    payload: payloadB64,
    protected: protectedB64,
    header: {
      x5c: o.signer.chain.map((c) => c.toString('base64')),
      'io.cncf.notary.signingAgent': 'portcullis-test/1.0',
      ...(o.timestamp ? { 'io.cncf.notary.timestampSignature': tokenOf(o.timestamp(signature)).toString('base64') } : {}),
    },
    signature: signature.toString('base64url'),
  }));
}

/** A COSE_Sign1 envelope (tag 18) with notation's labels. */
export function signCose(o: SignOptions): Buffer {
  const scheme = o.scheme ?? 'notary.x509';
  const timeName = scheme === 'notary.x509' ? 'io.cncf.notary.signingTime' : 'io.cncf.notary.authenticSigningTime';
  const header = new Map<number | string, unknown>([
    [1, coseAlg(o.signer.key)],
    [2, ['io.cncf.notary.signingScheme', ...(scheme !== 'notary.x509' ? [timeName] : []), ...(o.expiry ? ['io.cncf.notary.expiry'] : []), ...Object.keys(o.extraCritical ?? {})]],
    [3, NOTATION.payload],
    ['io.cncf.notary.signingScheme', scheme],
    [timeName, new Tag(1, Math.floor((o.signingTime ?? new Date()).getTime() / 1000))],
    ...(o.expiry ? [['io.cncf.notary.expiry', new Tag(1, Math.floor(o.expiry.getTime() / 1000))] as [string, unknown]] : []),
    ...Object.entries(o.extraCritical ?? {}),
  ]);
  const protectedBytes = encode(header);
  const body = new Uint8Array(payload(o.target));
  const toBeSigned = Buffer.from(encode(['Signature1', protectedBytes, new Uint8Array(0), body]));
  const signature = new Uint8Array(signWith(o.signer.key, toBeSigned));
  const unprotected = new Map<number | string, unknown>([
    [33, o.signer.chain.map((c) => new Uint8Array(c))],
    ['io.cncf.notary.signingAgent', 'portcullis-test/1.0'],
    ...(o.timestamp ? [['io.cncf.notary.timestampSignature', new Uint8Array(tokenOf(o.timestamp(Buffer.from(signature))))] as [string, unknown]] : []),
  ]);
  return Buffer.from(encode(new Tag(18, [protectedBytes, unprotected, body, signature])));
}

function payload(target: Descriptor): Buffer {
  return Buffer.from(JSON.stringify({ targetArtifact: { mediaType: target.mediaType, digest: target.digest, size: target.size } }));
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function jwsAlg(k: TestKey): string {
  return k.algorithm === 'rsa-2048' ? 'PS256' : k.algorithm === 'ecdsa-p384' ? 'ES384' : 'ES256';
}

function coseAlg(k: TestKey): number {
  return k.algorithm === 'rsa-2048' ? -37 : k.algorithm === 'ecdsa-p384' ? -35 : -7;
}

function signWith(k: TestKey, data: Buffer): Buffer {
  const key: KeyObject = k.privateKey;
  if (k.algorithm === 'rsa-2048') return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return sign(k.algorithm === 'ecdsa-p384' ? 'sha384' : 'sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

/**
 * The signature manifest: `artifactType` (notation-go 2, empty config) or the older form (no artifactType,
 * config of the Notation media type over `{}`), with `subject` naming the signed manifest.
 */
export function notationReferrer(subject: Descriptor, envelope: Buffer, envelopeType: string, form: 'artifactType' | 'config' = 'artifactType'): OciArtifact {
  const config = Buffer.from('{}');
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    ...(form === 'artifactType' ? { artifactType: NOTATION.artifactType } : {}),
    config: form === 'artifactType' ? { ...describeBlob(config, MT.ociEmpty), data: 'e30=' } : describeBlob(config, NOTATION.artifactType),
    layers: [describeBlob(envelope, envelopeType)],
    subject,
    annotations: { 'org.opencontainers.image.created': new Date().toISOString() },
  };
  return artifact(manifest, MT.ociManifest, [config, envelope]);
}

/** Writes `<dir>/x509/<type>/<name>/<file>.pem`, a notation trust store folder. */
export function writeTrustStore(dir: string, type: 'ca' | 'signingAuthority' | 'tsa', name: string, pems: string[]): void {
  const at = join(dir, 'x509', type, name);
  mkdirSync(at, { recursive: true });
  pems.forEach((pem, i) => writeFileSync(join(at, `cert-${i}.pem`), pem));
}
