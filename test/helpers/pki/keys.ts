import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519';

/**
 * Key types cosign can sign with. `ed25519` signs pure Ed25519; `ed25519ph` signs Ed25519ph, cosign's
 * default for Ed25519 keys (with @noble/curves, since Node cannot), and is logged with a sha512 hash.
 */
export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'ed25519' | 'ed25519ph';

export interface TestKey {
  readonly algorithm: KeyAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** SPKI PEM, the form `cosign public-key` prints and a policy file holds. */
  readonly publicKeyPem: string;
  /** SPKI DER. */
  readonly publicKeyDer: Buffer;
  /** Hash the key signs with (cosign defaults): null for Ed25519; sha512 is Ed25519ph's prehash. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** @sigstore/protobuf-specs PublicKeyDetails name. */
  readonly keyDetails: string;
  /** Signature over data (ECDSA signatures are DER, as cosign writes them). */
  sign(data: Buffer): Buffer;
}

const DETAILS: Record<KeyAlgorithm, { hash: TestKey['hash']; keyDetails: string }> = {
  'ecdsa-p256': { hash: 'sha256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
  'ecdsa-p384': { hash: 'sha384', keyDetails: 'PKIX_ECDSA_P384_SHA_384' },
  'rsa-2048': { hash: 'sha256', keyDetails: 'PKIX_RSA_PKCS1V15_2048_SHA256' },
  ed25519: { hash: null, keyDetails: 'PKIX_ED25519' },
  ed25519ph: { hash: 'sha512', keyDetails: 'PKIX_ED25519_PH' },
};

function generatePair(algorithm: KeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (algorithm) {
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ed25519':
    case 'ed25519ph':
      return generateKeyPairSync('ed25519');
  }
}

export function generateKey(algorithm: KeyAlgorithm = 'ecdsa-p256'): TestKey {
  const { privateKey, publicKey } = generatePair(algorithm);
  const { hash, keyDetails } = DETAILS[algorithm];
  return {
    algorithm,
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKeyDer: publicKey.export({ type: 'spki', format: 'der' }),
    hash,
    keyDetails,
    sign:
      algorithm === 'ed25519ph'
        ? (data: Buffer) => Buffer.from(ed25519ph.sign(data, Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url')))
        : (data: Buffer) => sign(hash, data, privateKey),
  };
}

/** sha256 of the DER SPKI: the Rekor/CT log ID and a convenient key hint. */
export function keyId(key: TestKey): Buffer {
  return createHash('sha256').update(key.publicKeyDer).digest();
}

export function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
