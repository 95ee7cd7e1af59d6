import { constants, publicDecrypt, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist';

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for the PKCS#1 v1.5 signatures a digest can be checked against. */
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};
const CURVES = { prime256v1: p256, secp384r1: p384, secp521r1: p521 } as const;

/**
 * Verifies a signature given only the digest of the signed bytes (an artifact named by `sha256:<hex>`): ECDSA
 * and RSA PKCS#1 v1.5 sign a digest, so the digest is enough. Node's crypto only verifies whole messages, so
 * ECDSA is checked with @noble/curves. Pure Ed25519 signs the message itself and cannot be checked this way.
 */
export function verifyPrehashed(key: KeyObject, digest: Buffer, hash: string, signature: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'ec') {
      const curve = CURVES[key.asymmetricKeyDetails?.namedCurve as keyof typeof CURVES];
      if (!curve) return false;
      const point = key.export({ format: 'der', type: 'spki' });
      const raw = curve.Point.fromHex(rawPoint(point, curve.Point.BASE.toBytes(false).length)).toBytes(false);
      return curve.verify(signature, digest, raw, { prehash: false, lowS: false, format: 'der' });
    }
    if (key.asymmetricKeyType === 'rsa') {
      const prefix = DIGEST_INFO[hash];
      if (!prefix) return false;
      const decoded = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
      return decoded.equals(Buffer.concat([prefix, digest]));
    }
    return false;
  } catch {
    // A malformed signature or key is "does not verify".
    return false;
  }
}

/** The uncompressed EC point is the last bytes of the SPKI (its BIT STRING ends the structure). */
function rawPoint(spki: Buffer, length: number): Uint8Array {
  return new Uint8Array(spki.subarray(spki.length - length));
}
