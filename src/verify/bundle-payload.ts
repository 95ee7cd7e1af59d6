import type { Bundle } from '@sigstore/bundle';
import { parseBundle } from './sigstore-run.js';
import type { Statement } from './statement.js';
import { VerifyFailure } from './verify-error.js';

/**
 * A large bundle read in a worker (report-off-thread.ts): the bundle JSON with its DSSE payload taken out
 * (tens of megabytes of base64 the event loop never decodes), the payload as bytes, and the statement in it,
 * its scan or VEX report already reduced.
 */
export interface OffThreadBundle {
  json: Record<string, any>;
  payload: Buffer;
  statement: Statement;
  payloadHex: string;
  /** sha256 of the DSSE pre-authentication encoding of the payload: the digest an ECDSA or RSA signature signs. */
  paeHex: string;
  /** The size of the bundle as fetched. */
  bundleBytes: number;
}

/** Stands in for the payload while the bundle is validated: @sigstore/bundle refuses an empty one. */
const PLACEHOLDER = 'AA==';

/** Parses a bundle and takes its DSSE payload out (in a worker); a bundle without one is no report. */
export function splitBundle(bytes: Buffer): { json: Record<string, any>; payload: Buffer } {
  let json: any;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new VerifyFailure('MALFORMED', 'bundle is not JSON');
  }
  const env = json?.dsseEnvelope;
  if (!env || typeof env !== 'object' || typeof env.payload !== 'string' || env.payload.length === 0) {
    throw new VerifyFailure('MALFORMED', 'bundle holds no DSSE envelope with a payload (a scan or VEX report is a signed statement)');
  }
  // Decoded as @sigstore/protobuf-specs decodes it (Buffer.from base64), so the signed bytes are the same.
  const payload = Buffer.from(env.payload, 'base64');
  env.payload = PLACEHOLDER;
  return { json, payload };
}

/** The bundle of a split read, validated, with its payload put back (the bytes, not a copy). */
export function joinBundle(json: unknown, payload: Buffer): Bundle {
  const bundle = parseBundle(json);
  if (bundle.content.$case !== 'dsseEnvelope') throw new VerifyFailure('MALFORMED', 'bundle holds no DSSE envelope');
  bundle.content.dsseEnvelope.payload = payload;
  return bundle;
}
