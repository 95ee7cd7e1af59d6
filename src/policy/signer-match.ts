import { DEFAULT_ROOT, type Signer, type VerifiedAttestation, type VerifiedSignature } from '../verify/types.js';
import type { SignatureRequirement } from './types.js';
import { matchesField } from './identity-match.js';
import { describeNotationRequirement, describeNotationSigner, satisfiesNotation } from './notation-rule.js';

/** Whether a verified signature (or attestation) satisfies one requirement of an anyOf list. */
export function satisfies(req: SignatureRequirement, sig: Pick<VerifiedSignature | VerifiedAttestation, 'signer' | 'tlog'>): boolean {
  if ('notation' in req) return sig.signer.type === 'notation' && satisfiesNotation(req, sig.signer);
  if ('key' in req) {
    if (sig.signer.type !== 'key' || sig.signer.key !== req.key) return false;
    return req.tlog !== 'required' || sig.tlog !== undefined;
  }
  if (sig.signer.type !== 'keyless') return false;
  const id = req.keyless;
  const s = sig.signer;
  // Evidence records every root the certificate chained to, so naming another root needs no re-verification.
  if (!(s.roots ?? []).includes(id.root ?? DEFAULT_ROOT)) return false;
  if (!matchesField(s.issuer, id.issuer, id.issuerRegExp) || !matchesField(s.subject, id.subject, id.subjectRegExp)) return false;
  const ext = s.extensions ?? {};
  return (
    Object.entries(id.extensions ?? {}).every(([name, value]) => matchesField(ext[name], value, undefined)) &&
    Object.entries(id.extensionsRegExp ?? {}).every(([name, pattern]) => matchesField(ext[name], undefined, pattern))
  );
}

export function satisfiesAny(reqs: readonly SignatureRequirement[], sig: Pick<VerifiedSignature, 'signer' | 'tlog'>): boolean {
  return reqs.some((r) => satisfies(r, sig));
}

export function describeSigner(s: Signer): string {
  if (s.type === 'key') return `key "${s.key}"`;
  if (s.type === 'notation') return describeNotationSigner(s);
  const roots = s.roots?.length && !(s.roots.length === 1 && s.roots[0] === DEFAULT_ROOT) ? `, root ${s.roots.join('/')}` : '';
  return `${s.subject} (issuer ${s.issuer ?? 'none'}${roots})`;
}

export function describeRequirement(r: SignatureRequirement): string {
  if ('notation' in r) return describeNotationRequirement(r);
  if ('key' in r) return `key "${r.key}"${r.tlog === 'required' ? ' with a transparency log entry' : ''}`;
  const id = r.keyless;
  const subj = id.subject ?? `/${id.subjectRegExp}/`;
  const iss = id.issuer ?? (id.issuerRegExp === undefined ? 'any' : `/${id.issuerRegExp}/`);
  const exts = [
    ...Object.entries(id.extensions ?? {}).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(id.extensionsRegExp ?? {}).map(([k, v]) => `${k}=/${v}/`),
  ];
  return `${subj} (issuer ${iss}${id.root ? `, root ${id.root}` : ''}${exts.length ? `, ${exts.join(', ')}` : ''})`;
}
