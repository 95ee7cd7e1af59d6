import { dsse } from '@sigstore/core';
import { sha256Hex, type Digest } from '../oci/digest.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import type { TlogEvidence, VerifiedAttestation } from './types.js';
import { verifyWithKey } from './key-signature.js';
import { readLegacyMaterial, type VerifyContext } from './legacy-annotations.js';
import { checkDsse001, checkEntryKey, checkIntoto001, tlogEvidence, toTlogEntryJson, verifySet, type RekorBundle } from './rekor-bundle.js';
import type { LegacyLayer } from './sig-layer.js';
import { runSigstore } from './sigstore-run.js';
import { parseStatement, provenanceFacts, type Statement } from './statement.js';
import { VerifyFailure } from './verify-error.js';

export interface Envelope {
  payloadType: string;
  payload: Buffer;
  signature: Buffer;
  json: Record<string, unknown>;
}

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
  if (doc.signatures.length !== 1 || typeof doc.signatures[0]?.sig !== 'string') {
    throw new VerifyFailure('MALFORMED', `DSSE envelope has ${doc.signatures.length} signatures; exactly one is supported`);
  }
  return { payloadType: doc.payloadType, payload: Buffer.from(doc.payload, 'base64'), signature: Buffer.from(doc.signatures[0].sig, 'base64'), json: doc };
}

/**
 * Verifies one layer of a cosign `.att` manifest: a DSSE envelope around an in-toto statement whose subject
 * includes the image digest, signed by a configured key or a Fulcio certificate. The Rekor entry is dsse
 * 0.0.1 (checked by sigstore-js) or intoto 0.0.1 (checked here: sigstore-js 3.x cannot read it).
 */
export function verifyAttLayer(layer: LegacyLayer, subject: Digest, artifactDigest: string, ctx: VerifyContext): VerifiedAttestation[] {
  if (layer.mediaType !== MEDIA_TYPES.dsseEnvelope) {
    throw new VerifyFailure('UNSUPPORTED', `layer media type "${layer.mediaType}" is not a DSSE envelope`);
  }
  const env = parseEnvelope(layer.blob);
  const statement = parseStatement(env.payloadType, env.payload, { digests: { sha256: subject.slice('sha256:'.length) } });
  const m = readLegacyMaterial(layer.annotations);
  const payloadHex = sha256Hex(env.payload);

  if (m.cert) {
    let manualTlog = false;
    if (m.rekor) {
      verifySet(m.rekor, ctx.material, ctx.now);
      checkEntryKey(m.rekor, m.cert.identity.publicKey);
      if (m.rekor.entry.kind === 'intoto' && m.rekor.entry.apiVersion === '0.0.1') {
        checkIntoto001(m.rekor, sha256Hex(layer.blob), payloadHex);
        manualTlog = true;
      }
    }
    // RFC 3161 timestamps on .att layers cover the whole envelope, which sigstore-js cannot check: not used.
    runSigstore(ctx.material, {
      bundle: {
        mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
        verificationMaterial: {
          x509CertificateChain: { certificates: [{ rawBytes: m.cert.der.toString('base64') }] },
          tlogEntries: m.rekor ? [toTlogEntryJson(m.rekor)] : [],
        },
        dsseEnvelope: env.json,
      },
      tlogThreshold: m.rekor && !manualTlog ? 1 : 0,
      timestampThreshold: 1,
      tlogCheckedByCaller: manualTlog,
    });
    const signer = { type: 'keyless' as const, issuer: m.cert.identity.issuer, subject: m.cert.identity.subject };
    return [attestation(statement, env, artifactDigest, signer, m.rekor && tlogEvidence(m.rekor))];
  }

  if (ctx.keys.size === 0) throw new VerifyFailure('UNTRUSTED_KEY', 'key-signed attestation, but no keys are configured');
  const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
  const matched = [...ctx.keys].filter(([, key]) => verifyWithKey(key, pae, env.signature));
  if (matched.length === 0) throw new VerifyFailure('SIGNATURE_INVALID', 'envelope signature does not verify with any configured key');
  let tlog: TlogEvidence | undefined;
  if (m.rekor) {
    tlog = verifySet(m.rekor, ctx.material, ctx.now);
    checkKeyedBody(m.rekor, env.signature, layer.blob, payloadHex);
    for (const [, key] of matched) checkEntryKey(m.rekor, key);
  }
  return matched.map(([name]) => attestation(statement, env, artifactDigest, { type: 'key', key: name }, tlog));
}

function checkKeyedBody(rb: RekorBundle, signature: Buffer, blob: Buffer, payloadHex: string): void {
  const { kind, apiVersion } = rb.entry;
  if (kind === 'dsse' && apiVersion === '0.0.1') return checkDsse001(rb, signature, payloadHex);
  if (kind === 'intoto' && apiVersion === '0.0.1') return checkIntoto001(rb, sha256Hex(blob), payloadHex);
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
  return att;
}
