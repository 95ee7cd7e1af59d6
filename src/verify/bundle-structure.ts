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
    if (e.inclusionProof) checkProof(e.inclusionProof, `tlogEntries[${i}] has an inclusion proof`);
  });
}

interface Proof {
  logIndex: string;
  treeSize: string;
  rootHash: Uint8Array;
  checkpoint?: { envelope: string };
}

/**
 * sigstore-js checks the proof's hashes against the checkpoint's root and size and ignores the proof's own
 * `rootHash` and `treeSize`; a proof whose fields disagree with its checkpoint, or that points past its tree,
 * is malformed whatever the hashes say.
 */
function checkProof(proof: Proof, what: string): void {
  const envelope = proof.checkpoint?.envelope;
  if (!envelope) throw new VerifyFailure('MALFORMED', `${what} without a checkpoint`);
  if (!/^\d+$/.test(proof.logIndex) || !/^\d+$/.test(proof.treeSize)) throw new VerifyFailure('MALFORMED', `${what} whose index or tree size is not a number`);
  if (BigInt(proof.logIndex) >= BigInt(proof.treeSize)) throw new VerifyFailure('MALFORMED', `${what} for index ${proof.logIndex} of a tree of ${proof.treeSize}`);
  // The note's header: origin, tree size, base64 root hash (a header it cannot read is sigstore-js's to refuse).
  const end = envelope.indexOf('\n\n');
  if (end < 0) return;
  const [, size, hash] = envelope.slice(0, end).split('\n');
  if (size === undefined || hash === undefined) return;
  if (size !== proof.treeSize) throw new VerifyFailure('MALFORMED', `${what} for a tree of ${proof.treeSize}, but its checkpoint is for ${size}`);
  if (!Buffer.from(hash, 'base64').equals(Buffer.from(proof.rootHash))) {
    throw new VerifyFailure('MALFORMED', `${what} whose root hash is not its checkpoint's`);
  }
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
