import type { X509Certificate } from 'node:crypto';
import { Certificate, CertificateChainValidationEngine } from 'pkijs';
import { VerifyFailure } from '../verify-error.js';
import type { NotationStore } from './trust-store.js';

const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/**
 * RFC 5280 path validation with `pkijs` (signatures, validity at `at`, CA basic constraints and key usage of
 * every issuer): the envelope's chain, leaf first, must lead to a certificate of the store. pkijs was chosen
 * over @peculiar/x509, whose chain builder finds a path but does not validate it.
 */
export async function chainsTo(chain: readonly X509Certificate[], store: NotationStore, at: Date): Promise<{ ok: true } | { ok: false; why: string }> {
  const leaf = chain[0]!;
  // A signing certificate placed in the store itself (notation's self-signed chain of one) is trusted as it
  // stands; path validation would refuse it as an issuer that is not a CA.
  if (store.certificates.some((c) => c.raw.equals(leaf.raw))) {
    return expiredAt([leaf], at) ? { ok: false, why: `the stored signing certificate is not valid at ${at.toISOString()}` } : { ok: true };
  }
  const toPkijs = (c: X509Certificate) => Certificate.fromBER(new Uint8Array(c.raw));
  try {
    const engine = new CertificateChainValidationEngine({
      trustedCerts: store.certificates.map(toPkijs),
      // pkijs takes the last certificate as the end entity.
      certs: [...chain.slice(1), leaf].map(toPkijs),
      checkDate: at,
    });
    const result = await engine.verify();
    return result.result ? { ok: true } : { ok: false, why: result.resultMessage || 'no valid path' };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

/** The specification's rule (stricter than notation-go): the leaf carries the code-signing extended key usage. */
export function checkCodeSigningLeaf(leaf: X509Certificate): void {
  if (leaf.ca) throw new VerifyFailure('CERT_CHAIN', 'the signing certificate is a CA certificate');
  const usages = (leaf as X509Certificate & { extKeyUsage?: string[] }).extKeyUsage ?? leaf.keyUsage;
  if (!usages?.includes(CODE_SIGNING)) throw new VerifyFailure('CERT_CHAIN', 'the signing certificate lacks the code-signing extended key usage');
}

/** Whether each certificate of the chain is within its validity window at `at` (for a clear expiry reason). */
export function expiredAt(chain: readonly X509Certificate[], at: Date): X509Certificate | undefined {
  return chain.find((c) => at < new Date(c.validFrom) || at > new Date(c.validTo));
}
