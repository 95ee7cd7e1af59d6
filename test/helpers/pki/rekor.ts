import { createHash } from 'node:crypto';
import { json } from '@sigstore/core';
import { generateKey, keyId, sha256Hex, type TestKey } from './keys.js';
import { inclusionProof, leafHash, rootHash } from './merkle.js';

/**
 * A test Rekor (v1) transparency log: canonical entry bodies, signed entry timestamps (SET),
 * and an in-memory RFC 6962 tree that yields inclusion proofs with signed checkpoints.
 */

export interface TlogEntry {
  readonly kind: 'hashedrekord' | 'dsse';
  readonly apiVersion: '0.0.1';
  /** Canonical JSON body bytes, as Rekor stores them. */
  readonly body: Buffer;
  readonly logIndex: number;
  /** Position in the log's tree (what the inclusion proof refers to). */
  readonly treeIndex: number;
  /** Unix seconds. */
  readonly integratedTime: number;
  /** Hex sha256 of the log's DER SPKI. */
  readonly logIdHex: string;
  /** ECDSA-SHA256 over canonical {body, integratedTime, logIndex, logID}. */
  readonly signedEntryTimestamp: Buffer;
}

export interface InclusionProofJson {
  logIndex: string;
  rootHash: string;
  treeSize: string;
  hashes: string[];
  checkpoint: { envelope: string };
}

export interface TestRekor {
  readonly key: TestKey;
  readonly logId: Buffer;
  readonly baseUrl: string;
  readonly origin: string;
  readonly validFrom: Date;
  addHashedRekord(opts: { payload: Buffer; signature: Buffer; publicKeyPem: string; integratedTime?: Date; hash?: 'sha256' | 'sha512' }): TlogEntry;
  /** A dsse 0.0.1 entry; `cosigners` are further signatures of a co-signed envelope, logged after the first. */
  addDsse(opts: {
    envelopeJson: Buffer;
    payload: Buffer;
    signature: Buffer;
    verifierPem: string;
    integratedTime?: Date;
    cosigners?: ReadonlyArray<{ signature: Buffer; verifierPem: string }>;
  }): TlogEntry;
  /** Inclusion proof for an entry against the tree as it is now, with a signed checkpoint. */
  inclusionProof(entry: TlogEntry): InclusionProofJson;
}

export interface TestRekorOptions {
  key?: TestKey;
  /** Hostname-like name; also the checkpoint signer name, which verifiers match against baseUrl. */
  hostname?: string;
  validFrom?: Date;
  /** Global index of the first entry (real Rekor shards start far above zero). */
  logIndexOffset?: number;
}

export function createTestRekor(opts: TestRekorOptions = {}): TestRekor {
  const key = opts.key ?? generateKey('ecdsa-p256');
  const logId = keyId(key);
  const hostname = opts.hostname ?? 'rekor.portcullis.test';
  const origin = `${hostname} - 4242`;
  const offset = opts.logIndexOffset ?? 1000;
  const leaves: Buffer[] = [];

  const append = (kind: TlogEntry['kind'], bodyObj: unknown, when?: Date): TlogEntry => {
    const body = Buffer.from(json.canonicalize(bodyObj), 'utf8');
    const treeIndex = leaves.length;
    leaves.push(leafHash(body));
    const logIndex = offset + treeIndex;
    const integratedTime = Math.floor((when ?? new Date()).getTime() / 1000);
    const logIdHex = logId.toString('hex');
    const setPayload = { body: body.toString('base64'), integratedTime, logIndex, logID: logIdHex };
    const signedEntryTimestamp = key.sign(Buffer.from(json.canonicalize(setPayload), 'utf8'));
    return { kind, apiVersion: '0.0.1', body, logIndex, treeIndex, integratedTime, logIdHex, signedEntryTimestamp };
  };

  return {
    key,
    logId,
    baseUrl: `https://${hostname}`,
    origin,
    validFrom: opts.validFrom ?? new Date(Date.now() - 10 * 365 * 86400_000),
    addHashedRekord({ payload, signature, publicKeyPem, integratedTime, hash = 'sha256' }) {
      const body = {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: hash, value: createHash(hash).update(payload).digest('hex') } },
          signature: {
            content: signature.toString('base64'),
            publicKey: { content: Buffer.from(publicKeyPem).toString('base64') },
          },
        },
      };
      return append('hashedrekord', body, integratedTime);
    },
    addDsse({ envelopeJson, payload, signature, verifierPem, integratedTime, cosigners = [] }) {
      const body = {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256Hex(envelopeJson) },
          payloadHash: { algorithm: 'sha256', value: sha256Hex(payload) },
          signatures: [{ signature, verifierPem }, ...cosigners].map((s) => ({
            signature: s.signature.toString('base64'),
            verifier: Buffer.from(s.verifierPem).toString('base64'),
          })),
        },
      };
      return append('dsse', body, integratedTime);
    },
    inclusionProof(entry) {
      if (leaves[entry.treeIndex] === undefined || !leaves[entry.treeIndex]!.equals(leafHash(entry.body))) {
        throw new Error('entry is not in this log');
      }
      const size = leaves.length;
      const root = rootHash(leaves);
      const note = `${origin}\n${size}\n${root.toString('base64')}\n`;
      const sig = Buffer.concat([logId.subarray(0, 4), key.sign(Buffer.from(note, 'utf8'))]);
      return {
        logIndex: String(entry.treeIndex),
        rootHash: root.toString('base64'),
        treeSize: String(size),
        hashes: inclusionProof(entry.treeIndex, leaves).map((h) => h.toString('base64')),
        checkpoint: { envelope: `${note}\n\u2014 ${hostname} ${sig.toString('base64')}\n` },
      };
    },
  };
}

/** cosign's `dev.sigstore.cosign/bundle` annotation value (RekorBundle). */
export function rekorBundleAnnotation(entry: TlogEntry): string {
  return JSON.stringify({
    SignedEntryTimestamp: entry.signedEntryTimestamp.toString('base64'),
    Payload: {
      body: entry.body.toString('base64'),
      integratedTime: entry.integratedTime,
      logIndex: entry.logIndex,
      logID: entry.logIdHex,
    },
  });
}

/** A Sigstore bundle `tlogEntries[]` item (protobuf JSON). */
export function bundleTlogEntry(entry: TlogEntry, proof?: InclusionProofJson): Record<string, unknown> {
  return {
    logIndex: String(entry.logIndex),
    logId: { keyId: Buffer.from(entry.logIdHex, 'hex').toString('base64') },
    kindVersion: { kind: entry.kind, version: entry.apiVersion },
    integratedTime: String(entry.integratedTime),
    inclusionPromise: { signedEntryTimestamp: entry.signedEntryTimestamp.toString('base64') },
    ...(proof ? { inclusionProof: proof } : {}),
    canonicalizedBody: entry.body.toString('base64'),
  };
}
