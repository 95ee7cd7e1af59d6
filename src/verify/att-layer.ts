import type { KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import { sha256Hex, type Digest } from '../oci/digest.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import type { TlogEvidence, VerifiedAttestation } from './types.js';
import { verifyWithKey } from './key-signature.js';
import { readLegacyMaterial, type VerifyContext } from './legacy-annotations.js';
import { checkDsse001, checkEntryKey, checkIntoto001, tlogEvidence, toTlogEntryJson, verifySet, type RekorBundle } from './rekor-bundle.js';
import type { LegacyLayer } from './sig-layer.js';
import { chainedRoots, verifySetUnderRoots } from './root-attempts.js';
import { runSigstore } from './sigstore-run.js';
import { parseStatement, provenanceFacts, reportFacts, statementFacts, type Statement } from './statement.js';
import { VerifyFailure } from './verify-error.js';

/** A large envelope read in a worker (report-off-thread.ts): its parts, statement and hashes. */
export interface OffThreadRead {
  env: Envelope;
  statement: Statement;
  blobHex: string;
  payloadHex: string;
}

export interface Envelope {
  payloadType: string;
  payload: Buffer;
  /** Every signature of the envelope, in order; cosign co-signing adds more than one. */
  signatures: Buffer[];
  json: Record<string, unknown>;
}

/** More signatures than any co-signing workflow makes; beyond this an envelope is refused unread. */
export const MAX_ENVELOPE_SIGNATURES = 16;

export function parseEnvelope(blob: Buffer): Envelope {
  let doc: any;
  try {
    doc = JSON.parse(blob.toString('utf8'));
  } catch {
    throw new VerifyFailure('MALFORMED', 'DSSE envelope is not JSON');
  }
  if (typeof doc?.payloadType !== 'string' || typeof doc.payload !== 'string' || !Array.isArray(doc.signatures)) {
    throw new VerifyFailure('MALFORMED', 'DSSE envelope lacks payloadType, payload or signatures');
  }
  const count = doc.signatures.length;
  if (count === 0) throw new VerifyFailure('MALFORMED', 'DSSE envelope has no signatures');
  if (count > MAX_ENVELOPE_SIGNATURES) {
    throw new VerifyFailure('TOO_LARGE', `DSSE envelope has ${count} signatures; at most ${MAX_ENVELOPE_SIGNATURES} are read`);
  }
  if (!doc.signatures.every((s: any) => typeof s?.sig === 'string')) throw new VerifyFailure('MALFORMED', 'a DSSE signature lacks "sig"');
  return {
    payloadType: doc.payloadType,
    payload: Buffer.from(doc.payload, 'base64'),
    signatures: doc.signatures.map((s: { sig: string }) => Buffer.from(s.sig, 'base64')),
    json: doc,
  };
}

/**
 * Verifies one layer of a cosign `.att` manifest: a DSSE envelope around an in-toto statement whose subject
 * includes the image digest, signed by a configured key or a Fulcio certificate. The Rekor entry is dsse
 * 0.0.1 (checked by sigstore-js) or intoto 0.0.1 (checked here: sigstore-js, 4.x included, cannot read it).
 *
 * A co-signed envelope (several signatures) counts when any one signature verifies against a trusted signer:
 * DSSE verification with a threshold of one, as cosign and policy-controller do. Its dsse log entry must log
 * the envelope's signatures, the one that verified among them (checked here: sigstore-js wants exactly one).
 */
export function verifyAttLayer(
  layer: LegacyLayer,
  subject: Digest,
  artifactDigest: string,
  ctx: VerifyContext,
  /** The envelope and statement of a large report, already read (and hashed) off the event loop. */
  read?: OffThreadRead,
): VerifiedAttestation[] {
  if (layer.mediaType !== MEDIA_TYPES.dsseEnvelope) {
    throw new VerifyFailure('UNSUPPORTED', `layer media type "${layer.mediaType}" is not a DSSE envelope`);
  }
  const env = read?.env ?? parseEnvelope(layer.blob);
  const statement = read?.statement ?? parseStatement(env.payloadType, env.payload, { digests: { sha256: subject.slice('sha256:'.length) } });
  const m = readLegacyMaterial(layer.annotations);
  const payloadHex = read?.payloadHex ?? sha256Hex(env.payload);
  const blobHex = read?.blobHex ?? sha256Hex(layer.blob);
  const cosigned = env.signatures.length > 1;

  if (m.cert) {
    let manualTlog = false;
    const rekor = m.rekor;
    if (rekor) {
      checkEntryKey(rekor, m.cert.identity.publicKey);
      if (rekor.entry.kind === 'intoto' && rekor.entry.apiVersion === '0.0.1') {
        checkIntoto001(rekor, blobHex, payloadHex);
        manualTlog = true;
      } else if (cosigned) {
        manualTlog = true;
      }
    }
    // RFC 3161 timestamps on .att layers cover the whole envelope, which sigstore-js cannot check: not used.
    const failures: unknown[] = [];
    const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
    for (const [i, signature] of env.signatures.entries()) {
      // Only a signature the certificate's key made can verify; skip the others without a sigstore run.
      if (cosigned && !verifyWithKey(m.cert.identity.publicKey, pae, signature)) continue;
      const bundle = {
        mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
        verificationMaterial: {
          x509CertificateChain: { certificates: [{ rawBytes: m.cert.der.toString('base64') }] },
          tlogEntries: rekor ? [toTlogEntryJson(rekor)] : [],
        },
        dsseEnvelope: { ...env.json, payload: env.json.payload ?? env.payload.toString('base64'), signatures: [(env.json.signatures as unknown[])[i]] },
      };
      let chained;
      try {
        chained = chainedRoots(ctx.roots, (root) => {
          if (rekor && root.hasTlogs) verifySet(rekor, root.material, ctx.now);
          runSigstore(root, { bundle, tlogThreshold: rekor && !manualTlog ? 1 : 0, timestampThreshold: 1, tlogCheckedByCaller: manualTlog });
        });
      } catch (err) {
        failures.push(err);
        continue;
      }
      if (rekor && cosigned && rekor.entry.kind === 'dsse') checkDsse001(rekor, signature, payloadHex, env.signatures.length);
      const { issuer, subject, extensions } = m.cert.identity;
      const signer = { type: 'keyless' as const, ...(issuer !== undefined && { issuer }), subject, roots: chained.roots, extensions };
      return [attestation(statement, env, artifactDigest, signer, rekor && chained.tlogVerified ? tlogEvidence(rekor) : undefined)];
    }
    if (failures[0]) throw failures[0];
    throw new VerifyFailure('SIGNATURE_INVALID', 'no envelope signature verifies with the certificate key');
  }

  if (ctx.keys.size === 0) throw new VerifyFailure('UNTRUSTED_KEY', 'key-signed attestation, but no keys are configured');
  const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
  const matched: Array<{ name: string; key: KeyObject; signature: Buffer }> = [];
  for (const [name, key] of ctx.keys) {
    const signature = env.signatures.find((sig) => verifyWithKey(key, pae, sig));
    if (signature) matched.push({ name, key, signature });
  }
  if (matched.length === 0) {
    throw new VerifyFailure('SIGNATURE_INVALID', `${cosigned ? 'no envelope signature verifies' : 'envelope signature does not verify'} with a configured key`);
  }
  let tlog: TlogEvidence | undefined;
  if (m.rekor) {
    tlog = verifySetUnderRoots(m.rekor, ctx.roots, ctx.now);
    for (const { key, signature } of matched) {
      checkKeyedBody(m.rekor, signature, blobHex, payloadHex, env.signatures.length);
      checkEntryKey(m.rekor, key);
    }
  }
  return matched.map(({ name }) => attestation(statement, env, artifactDigest, { type: 'key', key: name }, tlog));
}

function checkKeyedBody(rb: RekorBundle, signature: Buffer, blobHex: string, payloadHex: string, signatureCount: number): void {
  const { kind, apiVersion } = rb.entry;
  if (kind === 'dsse' && apiVersion === '0.0.1') return checkDsse001(rb, signature, payloadHex, signatureCount);
  if (kind === 'intoto' && apiVersion === '0.0.1') return checkIntoto001(rb, blobHex, payloadHex);
  throw new VerifyFailure('UNSUPPORTED', `Rekor entry kind ${kind} ${apiVersion} for an attestation`);
}

function attestation(
  st: Statement,
  env: Envelope,
  artifactDigest: string,
  signer: VerifiedAttestation['signer'],
  tlog: TlogEvidence | undefined,
): VerifiedAttestation {
  const att: VerifiedAttestation = {
    source: 'att-tag',
    artifactDigest,
    signer,
    predicateType: st.predicateType,
    statementDigest: `sha256:${sha256Hex(env.payload)}`,
  };
  if (tlog) att.tlog = tlog;
  const facts = provenanceFacts(st);
  if (facts) att.provenance = facts;
  return { ...att, ...statementFacts(st, env.payload.length), ...reportFacts(st) };
}
