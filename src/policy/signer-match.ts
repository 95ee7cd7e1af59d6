import type { Signer, VerifiedAttestation, VerifiedSignature } from '../verify/types.js';
import type { SignatureRequirement } from './types.js';
import { matchesField } from './identity-match.js';

/** Whether a verified signature (or attestation) satisfies one requirement of an anyOf list. */
export function satisfies(req: SignatureRequirement, sig: Pick<VerifiedSignature | VerifiedAttestation, 'signer' | 'tlog'>): boolean {
  if ('key' in req) {
    if (sig.signer.type !== 'key' || sig.signer.key !== req.key) return false;
    return req.tlog !== 'required' || sig.tlog !== undefined;
  }
  if (sig.signer.type !== 'keyless') return false;
  const id = req.keyless;
  return matchesField(sig.signer.issuer, id.issuer, id.issuerRegExp) && matchesField(sig.signer.subject, id.subject, id.subjectRegExp);
}

export function satisfiesAny(reqs: readonly SignatureRequirement[], sig: Pick<VerifiedSignature, 'signer' | 'tlog'>): boolean {
  return reqs.some((r) => satisfies(r, sig));
}

export function describeSigner(s: Signer): string {
  return s.type === 'key' ? `key "${s.key}"` : `${s.subject} (issuer ${s.issuer})`;
}

export function describeRequirement(r: SignatureRequirement): string {
  if ('key' in r) return `key "${r.key}"${r.tlog === 'required' ? ' with a transparency log entry' : ''}`;
  const id = r.keyless;
  const subj = id.subject ?? `/${id.subjectRegExp}/`;
  const iss = id.issuer ?? `/${id.issuerRegExp}/`;
  return `${subj} (issuer ${iss})`;
}
