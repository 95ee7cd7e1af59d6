import type { TestKey } from './keys.js';

/** DSSE envelopes (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md). */

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export interface SignedEnvelope {
  /** The envelope as cosign writes it into a `.att` layer. */
  readonly json: Buffer;
  readonly payloadType: string;
  readonly payload: Buffer;
  readonly signature: Buffer;
  /** Further signatures over the same PAE (a co-signed envelope), after `signature`. */
  readonly cosignatures: readonly Buffer[];
}

export function signEnvelope(key: TestKey, payload: Buffer, payloadType = IN_TOTO_PAYLOAD_TYPE, cosigners: readonly TestKey[] = []): SignedEnvelope {
  const pae = preAuthEncoding(payloadType, payload);
  const signature = key.sign(pae);
  const others = cosigners.map((k) => k.sign(pae));
  const json = Buffer.from(
    JSON.stringify({
      payloadType,
      payload: payload.toString('base64'),
      signatures: [signature, ...others].map((s) => ({ keyid: '', sig: s.toString('base64') })),
    }),
  );
  return { json, payloadType, payload, signature, cosignatures: others };
}
