import { satisfiesAny } from '../policy/signer-match.js';
import type { SignatureRequirement } from '../policy/types.js';
import type { VerifiedAttestation } from '../verify/types.js';
import { describeSigner } from '../policy/signer-match.js';
import type { Finding, VexFacts, VexStatement } from './report/types.js';
import { idsOf } from './ids.js';

export interface VexVerdict {
  statement: VexStatement;
  author?: string;
  signer: string;
}

/**
 * Whether a VEX product names this image: the manifest digest, the index digest, or a `pkg:oci` purl naming
 * the repository at one of them (`pkg:oci/app@sha256%3A…`).
 */
export function productMatches(product: string, repository: string, digests: readonly string[]): boolean {
  if (digests.includes(product)) return true;
  if (!product.startsWith('pkg:oci/')) return false;
  const [path] = product.slice('pkg:oci/'.length).split(/[?#]/);
  const at = path!.lastIndexOf('@');
  if (at < 0) return false;
  let version: string;
  let name: string;
  try {
    version = decodeURIComponent(path!.slice(at + 1));
    name = decodeURIComponent(path!.slice(0, at));
  } catch {
    return false;
  }
  const last = repository.split('/').pop()!.toLowerCase();
  return digests.includes(version) && name.split('/').pop()!.toLowerCase() === last;
}

/** Trusted VEX documents, and the signers of the ones that were not trusted (ignored). */
export function splitVex(
  docs: ReadonlyArray<{ att: VerifiedAttestation; vex: VexFacts }>,
  signedBy: readonly SignatureRequirement[] | undefined,
): { trusted: Array<{ att: VerifiedAttestation; vex: VexFacts }>; ignored: string[] } {
  const trusted = docs.filter((d) => signedBy !== undefined && satisfiesAny(signedBy, d.att));
  const ignored = [...new Set(docs.filter((d) => !trusted.includes(d)).map((d) => describeSigner(d.att.signer)))];
  return { trusted, ignored };
}

/** The newest trusted statement about this finding for this image, if any. */
export function vexFor(
  f: Finding,
  docs: ReadonlyArray<{ att: VerifiedAttestation; vex: VexFacts }>,
  repository: string,
  digests: readonly string[],
): VexVerdict | undefined {
  const ids = new Set(idsOf(f));
  let best: VexVerdict | undefined;
  for (const { att, vex } of docs) {
    for (const s of vex.statements) {
      if (![s.vulnerability, ...s.aliases].some((id) => ids.has(id.toUpperCase()))) continue;
      if (!s.products.some((p) => productMatches(p, repository, digests))) continue;
      if (!best || (s.timestamp ?? '') > (best.statement.timestamp ?? '')) best = { statement: s, ...(vex.author && { author: vex.author }), signer: describeSigner(att.signer) };
    }
  }
  return best;
}
