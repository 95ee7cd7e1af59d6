import { constants, verify, type KeyObject } from 'node:crypto';
import { Tag, decode, encode } from 'cbor2';
import { VerifyFailure } from '../verify-error.js';
import {
  AUTHENTIC_SIGNING_TIME, EXPIRY, SIGNING_SCHEME, SIGNING_TIME,
  checkSignedHeaders, malformed, parseChain, type NotationEnvelope,
} from './headers.js';

const COSE_SIGN1_TAG = 18;
const ALG = 1;
const CRIT = 2;
const CONTENT_TYPE = 3;
const X5CHAIN = 33;
const TIMESTAMP_SIGNATURE = 'io.cncf.notary.timestampSignature';

/** COSE algorithm → hash and the key it needs (RFC 9053 numbers, the ones the Notary Project allows). */
const ALGORITHMS: Record<number, { name: string; hash: string; pss: boolean; curve?: string }> = {
  [-7]: { name: 'ES256', hash: 'sha256', pss: false, curve: 'prime256v1' },
  [-35]: { name: 'ES384', hash: 'sha384', pss: false, curve: 'secp384r1' },
  [-36]: { name: 'ES512', hash: 'sha512', pss: false, curve: 'secp521r1' },
  [-37]: { name: 'PS256', hash: 'sha256', pss: true },
  [-38]: { name: 'PS384', hash: 'sha384', pss: true },
  [-39]: { name: 'PS512', hash: 'sha512', pss: true },
};

/**
 * A COSE_Sign1 envelope (`application/cose`), decoded with `cbor2`; the signature over the Sig_structure
 * (RFC 9052 §4.4) is checked with node:crypto, as no maintained COSE library covers RSASSA-PSS and the
 * Notary Project's string labels.
 */
export function parseCoseEnvelope(bytes: Buffer): NotationEnvelope {
  let top: unknown;
  try {
    top = decode(new Uint8Array(bytes), { preferMap: true });
  } catch (err) {
    throw malformed(`COSE envelope is not CBOR: ${(err as Error).message}`);
  }
  const parts = top instanceof Tag ? (top.tag === COSE_SIGN1_TAG ? top.contents : undefined) : top;
  if (!Array.isArray(parts) || parts.length !== 4) throw malformed('COSE envelope is not a COSE_Sign1 structure');
  const [protectedBytes, unprotected, payload, signature] = parts as unknown[];
  if (!(protectedBytes instanceof Uint8Array) || !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array) || !(unprotected instanceof Map)) {
    throw malformed('COSE_Sign1 fields have the wrong types (or the payload is detached)');
  }
  let header: unknown;
  try {
    header = decode(protectedBytes, { preferMap: true });
  } catch (err) {
    throw malformed(`COSE protected header is not CBOR: ${(err as Error).message}`);
  }
  if (!(header instanceof Map)) throw malformed('COSE protected header is not a map');
  const alg = ALGORITHMS[header.get(ALG) as number];
  if (!alg) throw new VerifyFailure('UNSUPPORTED', `COSE algorithm ${JSON.stringify(header.get(ALG))} is not one the Notary Project allows`);
  const signed = checkSignedHeaders({
    crit: header.get(CRIT),
    scheme: header.get(SIGNING_SCHEME),
    signingTime: header.get(SIGNING_TIME),
    authenticSigningTime: header.get(AUTHENTIC_SIGNING_TIME),
    expiry: header.get(EXPIRY),
    contentType: header.get(CONTENT_TYPE),
    present: new Set([...header.keys()].map(String)),
  });
  const x5 = unprotected.get(X5CHAIN);
  const chain = parseChain((x5 instanceof Uint8Array ? [x5] : Array.isArray(x5) ? x5 : undefined)?.map((c) => Buffer.from(c as Uint8Array)));
  const tst = unprotected.get(TIMESTAMP_SIGNATURE);
  const toBeSigned = Buffer.from(encode(['Signature1', protectedBytes, new Uint8Array(0), payload]));
  const sig = Buffer.from(signature);
  return {
    format: 'cose',
    payload: Buffer.from(payload),
    ...signed,
    chain,
    signature: sig,
    ...(tst instanceof Uint8Array ? { timestampToken: Buffer.from(tst) } : {}),
    verifySignature: async () => checkSignature(alg, chain[0]!.publicKey, toBeSigned, sig),
  };
}

function checkSignature(alg: (typeof ALGORITHMS)[number], key: KeyObject, data: Buffer, sig: Buffer): void {
  const type = key.asymmetricKeyType;
  if (alg.pss ? type !== 'rsa' && type !== 'rsa-pss' : type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== alg.curve) {
    throw new VerifyFailure('SIGNATURE_INVALID', `COSE algorithm ${alg.name} does not fit the leaf certificate's ${type} key`);
  }
  let ok = false;
  try {
    ok = alg.pss
      ? verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig)
      : verify(alg.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new VerifyFailure('SIGNATURE_INVALID', `COSE signature does not verify with the leaf certificate's key (${alg.name})`);
}
