import type { IssuedCertificate } from './fulcio.js';
import type { TestKey } from './keys.js';

/** Who signs: a long-lived key (keyed signing) or a Fulcio certificate with its ephemeral key. */
export type Signer = TestKey | IssuedCertificate;

export function isKeyless(signer: Signer): signer is IssuedCertificate {
  return 'der' in signer && 'chainPem' in signer;
}

export function signingKey(signer: Signer): TestKey {
  return isKeyless(signer) ? signer.key : signer;
}

/** PEM that Rekor records as the verifier: the certificate, or the public key. */
export function verifierPem(signer: Signer): string {
  return isKeyless(signer) ? signer.pem : signer.publicKeyPem;
}
