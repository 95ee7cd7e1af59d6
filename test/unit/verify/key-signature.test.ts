import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519';
import { verifyWithKey } from '../../../src/verify/key-signature.js';

/** Operator keys as cosign uses them, including Ed25519ph, cosign's default for Ed25519 keys. */
describe('verifyWithKey', () => {
  const payload = Buffer.from('{"critical":{"type":"cosign container image signature"}}');

  it('accepts Ed25519ph and pure Ed25519 signatures by the key, and nothing else', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
    const prehashed = Buffer.from(ed25519ph.sign(payload, seed));
    const pure = sign(null, payload, privateKey);
    expect(verifyWithKey(publicKey, payload, prehashed)).toBe(true);
    expect(verifyWithKey(publicKey, payload, pure)).toBe(true);
    expect(verifyWithKey(publicKey, Buffer.concat([payload, Buffer.from(' ')]), prehashed)).toBe(false);
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyWithKey(other, payload, prehashed)).toBe(false);
    expect(verifyWithKey(publicKey, payload, prehashed.subarray(0, 63))).toBe(false);
  });

  it('accepts ECDSA P-256 and P-384 and RSA signatures by the key', () => {
    for (const [type, opts, hash] of [
      ['ec', { namedCurve: 'P-256' }, 'sha256'],
      ['ec', { namedCurve: 'P-384' }, 'sha384'],
      ['rsa', { modulusLength: 2048 }, 'sha256'],
    ] as const) {
      const { publicKey, privateKey } = generateKeyPairSync(type as 'ec', opts as { namedCurve: string });
      const signature = sign(hash, payload, privateKey);
      expect(verifyWithKey(publicKey, payload, signature), `${type} ${hash}`).toBe(true);
      expect(verifyWithKey(publicKey, Buffer.from('other'), signature), `${type} ${hash}`).toBe(false);
    }
  });
});
