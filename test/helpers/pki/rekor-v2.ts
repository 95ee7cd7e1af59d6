import { createHash } from 'node:crypto';
import { json } from '@sigstore/core';
import { preAuthEncoding } from './dsse.js';
import { generateKey, keyId, type TestKey } from './keys.js';
import { inclusionProof, leafHash, rootHash } from './merkle.js';
import { isKeyless, signingKey, type Signer } from './signer.js';

/**
 * A test Rekor v2 log (a tile log, as log2025-1.rekor.sigstore.dev): entries carry no integrated time and
 * no SET, only an inclusion proof whose checkpoint the log's Ed25519 key signs. Entries are what cosign v3
 * logs: `hashedrekord` 0.0.2 (for a DSSE envelope, over sha256 of its pre-authentication encoding) and
 * `dsse` 0.0.2.
 */
export interface TestRekorV2 {
  readonly key: TestKey;
  readonly logId: Buffer;
  readonly baseUrl: string;
  readonly validFrom: Date;
  /** The bundle `tlogEntries[]` item for a signed DSSE envelope; `checkpointKey` signs the checkpoint instead of the log's key. */
  entryFor(envelope: DsseSigned, signer: Signer, opts?: { kind?: 'hashedrekord' | 'dsse'; checkpointKey?: TestKey }): Record<string, unknown>;
}

export interface DsseSigned {
  payloadType: string;
  payload: Buffer;
  signature: Buffer;
}

export function createTestRekorV2(opts: { hostname?: string; validFrom?: Date } = {}): TestRekorV2 {
  const key = generateKey('ed25519');
  const logId = keyId(key);
  const hostname = opts.hostname ?? 'log2025-1.rekor.portcullis.test';
  const leaves: Buffer[] = [];
  const offset = 7000;

  function body(envelope: DsseSigned, signer: Signer, kind: 'hashedrekord' | 'dsse'): Record<string, unknown> {
    const k = signingKey(signer);
    const verifier = {
      ...(isKeyless(signer) ? { x509Certificate: { rawBytes: signer.der.toString('base64') } } : { publicKey: { rawBytes: k.publicKeyDer.toString('base64') } }),
      keyDetails: k.keyDetails,
    };
    if (kind === 'hashedrekord') {
      const digest = createHash('sha256').update(preAuthEncoding(envelope.payloadType, envelope.payload)).digest();
      return {
        kind,
        apiVersion: '0.0.2',
        spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: { content: envelope.signature.toString('base64'), verifier } } },
      };
    }
    const payloadHash = createHash('sha256').update(envelope.payload).digest();
    return {
      kind,
      apiVersion: '0.0.2',
      spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: payloadHash.toString('base64') }, signatures: [{ content: envelope.signature.toString('base64'), verifier }] } },
    };
  }

  return {
    key,
    logId,
    baseUrl: `https://${hostname}`,
    validFrom: opts.validFrom ?? new Date(Date.now() - 365 * 86400_000),
    entryFor(envelope, signer, { kind = 'hashedrekord', checkpointKey = key } = {}) {
      const canonical = Buffer.from(json.canonicalize(body(envelope, signer, kind)), 'utf8');
      const index = leaves.length;
      leaves.push(leafHash(canonical));
      const root = rootHash(leaves);
      const note = `${hostname}\n${leaves.length}\n${root.toString('base64')}\n`;
      const sig = Buffer.concat([logId.subarray(0, 4), checkpointKey.sign(Buffer.from(note, 'utf8'))]);
      return {
        logIndex: String(offset + index),
        logId: { keyId: logId.toString('base64') },
        kindVersion: { kind, version: '0.0.2' },
        integratedTime: '0',
        inclusionProof: {
          logIndex: String(index),
          rootHash: root.toString('base64'),
          treeSize: String(leaves.length),
          hashes: inclusionProof(index, leaves).map((h) => h.toString('base64')),
          checkpoint: { envelope: `${note}\n\u2014 ${hostname} ${sig.toString('base64')}\n` },
        },
        canonicalizedBody: canonical.toString('base64'),
      };
    },
  };
}
