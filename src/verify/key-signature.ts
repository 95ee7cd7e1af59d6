import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519';

/**
 * Verifies a raw signature with an operator key the way cosign signs with it: ECDSA with the curve's
 * hash (SHA-256 accepted for every curve, as older cosign used it), RSA PKCS#1 v1.5 SHA-256, Ed25519 pure
 * or Ed25519ph (cosign's default for Ed25519 keys, which Node's crypto lacks: checked with @noble/curves).
 */
export function verifyWithKey(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ed25519':
        return cryptoVerify(null, data, key, signature) || verifyEd25519ph(key, data, signature);
      case 'rsa':
        return cryptoVerify('sha256', data, key, signature);
      case 'ec': {
        const curve = key.asymmetricKeyDetails?.namedCurve;
        const preferred = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
        if (cryptoVerify(preferred, data, key, signature)) return true;
        return preferred !== 'sha256' && cryptoVerify('sha256', data, key, signature);
      }
      default:
        return false;
    }
  } catch {
    // Malformed DER signatures make OpenSSL throw; that is just "does not verify".
    return false;
  }
}

function verifyEd25519ph(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  if (signature.length !== 64) return false;
  const raw = Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');
  return raw.length === 32 && ed25519ph.verify(signature, data, raw);
}

/** Keys are compared by their SPKI encoding so PEM whitespace or format differences do not matter. */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}
