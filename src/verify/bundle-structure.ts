import { X509Certificate } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { VerifyFailure } from './verify-error.js';

/**
 * What a well-formed bundle must hold beyond what @sigstore/bundle validates, checked before verifying.
 *
 * - An inclusion proof names the checkpoint it leads to: bundle v0.1 does not require one in the schema,
 *   and sigstore-js would crash on its absence, so it is a malformed bundle, not an internal error.
 * - An `x509CertificateChain` carries the signing certificate and at most intermediates: the trust anchor
 *   comes from the trusted root, never from the bundle. A self-signed CA certificate in the chain is
 *   refused (as sigstore-python and sigstore-go do), rather than ignored.
 */
export function checkBundleStructure(bundle: Bundle): void {
  const vm = bundle.verificationMaterial.content;
  if (vm.$case === 'x509CertificateChain') checkChain(vm.x509CertificateChain.certificates);
  bundle.verificationMaterial.tlogEntries.forEach((e, i) => {
    const proof = e.inclusionProof;
    if (proof && !proof.checkpoint?.envelope) {
      throw new VerifyFailure('MALFORMED', `tlogEntries[${i}] has an inclusion proof without a checkpoint`);
    }
  });
}

function checkChain(certificates: ReadonlyArray<{ rawBytes: Uint8Array }>): void {
  certificates.forEach((c, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(c.rawBytes));
    } catch {
      throw new VerifyFailure('MALFORMED', `certificate ${i} of the chain is not an X.509 certificate`);
    }
    if (cert.ca && isSelfSigned(cert)) {
      throw new VerifyFailure('CERT_CHAIN', `the certificate chain carries a root CA certificate (${cert.subject.replace(/\n/g, ', ')}); trust anchors come only from the trusted root`);
    }
    if (i === 0 && cert.ca) throw new VerifyFailure('CERT_CHAIN', 'the signing certificate is a CA certificate');
  });
}

function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}
