import { decodeProtectedHeader, flattenedVerify, type FlattenedJWS } from 'jose';
import { isObject } from '../../oci/manifest.js';
import { VerifyFailure } from '../verify-error.js';
import {
  AUTHENTIC_SIGNING_TIME, EXPIRY, KNOWN_CRITICAL, SIGNING_SCHEME, SIGNING_TIME,
  checkSignedHeaders, malformed, parseChain, type NotationEnvelope,
} from './headers.js';

/** The algorithms the Notary Project allows (RSASSA-PSS and ECDSA over SHA-2). */
const ALGORITHMS = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const TIMESTAMP_SIGNATURE = 'io.cncf.notary.timestampSignature';

/**
 * A JWS envelope in flattened JSON serialization (`application/jose+json`). The signature is checked by
 * `jose`, which also refuses any `crit` entry beyond those listed here, so an unknown critical header fails
 * twice over: in checkSignedHeaders with a clear reason, and in the library.
 */
export function parseJwsEnvelope(bytes: Buffer): NotationEnvelope {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw malformed(`JWS envelope is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || typeof doc.protected !== 'string' || typeof doc.payload !== 'string' || typeof doc.signature !== 'string') {
    throw malformed('JWS envelope is not in flattened JSON serialization (protected, payload, signature)');
  }
  const jws = doc as unknown as FlattenedJWS & { header?: Record<string, unknown> };
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(jws) as Record<string, unknown>;
  } catch (err) {
    throw malformed(`JWS protected header does not decode: ${(err as Error).message}`);
  }
  if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) {
    throw new VerifyFailure('UNSUPPORTED', `JWS algorithm ${JSON.stringify(header.alg)} is not one of ${ALGORITHMS.join(', ')}`);
  }
  const signed = checkSignedHeaders({
    crit: header.crit,
    scheme: header[SIGNING_SCHEME],
    signingTime: header[SIGNING_TIME],
    authenticSigningTime: header[AUTHENTIC_SIGNING_TIME],
    expiry: header[EXPIRY],
    contentType: header.cty,
    present: new Set(Object.keys(header)),
  });
  const unprotected = isObject(jws.header) ? jws.header : {};
  const chain = parseChain(Array.isArray(unprotected.x5c) ? unprotected.x5c.map((c) => Buffer.from(String(c), 'base64')) : undefined);
  const tst = unprotected[TIMESTAMP_SIGNATURE];
  return {
    format: 'jws',
    payload: Buffer.from(jws.payload as string, 'base64url'),
    ...signed,
    chain,
    signature: Buffer.from(jws.signature, 'base64url'),
    ...(typeof tst === 'string' && tst ? { timestampToken: Buffer.from(tst, 'base64') } : {}),
    verifySignature: async () => {
      try {
        await flattenedVerify(jws, chain[0]!.publicKey, {
          algorithms: ALGORITHMS,
          crit: Object.fromEntries(KNOWN_CRITICAL.map((k) => [k, true])),
        });
      } catch (err) {
        throw new VerifyFailure('SIGNATURE_INVALID', `JWS signature does not verify with the leaf certificate's key: ${(err as Error).message}`);
      }
    },
  };
}
