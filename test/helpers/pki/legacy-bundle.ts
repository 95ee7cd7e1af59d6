import { createHash } from 'node:crypto';
import { MT } from './oci.js';

/**
 * Converts one legacy cosign `.sig`/`.att` layer into a Sigstore bundle v0.1 JSON plus the bytes
 * the signature covers, so sigstore-js's lower layer can check it (recipe from cosign-formats.md).
 * Key-signed layers get `publicKey.hint` = `opts.hint`; supply that key through the trust material.
 * `digestAlgorithm` is the hash the signer used (sha384 for P-384 keys), which sigstore-js verifies with.
 */
export interface LegacyLayerInput {
  mediaType: string;
  blob: Buffer;
  annotations: Record<string, string>;
}

export function legacyLayerToBundle(
  layer: LegacyLayerInput,
  opts: { hint?: string; digestAlgorithm?: 'sha256' | 'sha384' } = {},
): { bundle: Record<string, unknown>; artifact?: Buffer } {
  const hint = opts.hint ?? 'cosign-key';
  const alg = opts.digestAlgorithm ?? 'sha256';
  const a = layer.annotations;
  const cert = a['dev.sigstore.cosign/certificate'];
  const keyMaterial = cert
    ? { x509CertificateChain: { certificates: [{ rawBytes: pemToDer(cert).toString('base64') }] } }
    : { publicKey: { hint } };
  const tlogEntries = [];
  const rekorBundle = a['dev.sigstore.cosign/bundle'];
  if (rekorBundle) {
    const rb = JSON.parse(rekorBundle) as {
      SignedEntryTimestamp: string;
      Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
    };
    const body = JSON.parse(Buffer.from(rb.Payload.body, 'base64').toString('utf8')) as { kind: string; apiVersion: string };
    tlogEntries.push({
      logIndex: String(rb.Payload.logIndex),
      logId: { keyId: Buffer.from(rb.Payload.logID, 'hex').toString('base64') },
      kindVersion: { kind: body.kind, version: body.apiVersion },
      integratedTime: String(rb.Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: rb.SignedEntryTimestamp },
      canonicalizedBody: rb.Payload.body,
    });
  }
  const base = {
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { ...keyMaterial, tlogEntries },
  };
  if (layer.mediaType === MT.dsseEnvelope) {
    return { bundle: { ...base, dsseEnvelope: JSON.parse(layer.blob.toString('utf8')) } };
  }
  return {
    bundle: {
      ...base,
      messageSignature: {
        messageDigest: {
          algorithm: alg === 'sha384' ? 'SHA2_384' : 'SHA2_256',
          digest: createHash(alg).update(layer.blob).digest('base64'),
        },
        signature: a['dev.cosignproject.cosign/signature'],
      },
    },
    artifact: layer.blob,
  };
}

export function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/.exec(pem);
  if (!match) throw new Error('no PEM block');
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}
