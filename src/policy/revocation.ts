import type { Evidence, RejectedArtifact, Signer, TlogEvidence } from '../verify/types.js';

/**
 * Revoked trust, as plain data: a configured key (by its name in `trust.keys`), a keyless identity (issuer
 * and subject, exactly), or one transparency-log entry. Pure: the decider passes the active set in and the
 * evaluator drops every signature and attestation a revocation names, so cached evidence never outlives it.
 */
export type RevokedSigner =
  | { key: string }
  | { keyless: { issuer: string; subject: string } }
  | { logIndex: number }
  /** A Notation signer by its leaf certificate's SHA-256 fingerprint (lowercase hex). */
  | { notation: { fingerprint: string } };

export interface Revocation {
  id: number;
  signer: RevokedSigner;
  reason: string;
  author: string;
  time: string;
}

/** An immutable set of active revocations; a change makes a new set (so results memoized per set stay right). */
export interface RevocationSet {
  readonly list: readonly Revocation[];
}

export const NO_REVOCATIONS: RevocationSet = Object.freeze({ list: Object.freeze([]) });

/** The revocation that names this signer or log entry, if any. */
export function revocationOf(set: RevocationSet, entry: { signer: Signer; tlog?: TlogEvidence }): Revocation | undefined {
  return set.list.find((r) => names(r.signer, entry));
}

export function names(revoked: RevokedSigner, entry: { signer: Signer; tlog?: TlogEvidence }): boolean {
  if ('key' in revoked) return entry.signer.type === 'key' && entry.signer.key === revoked.key;
  if ('keyless' in revoked) {
    return entry.signer.type === 'keyless' && entry.signer.issuer === revoked.keyless.issuer && entry.signer.subject === revoked.keyless.subject;
  }
  if ('notation' in revoked) return entry.signer.type === 'notation' && entry.signer.fingerprint === revoked.notation.fingerprint;
  return entry.tlog !== undefined && entry.tlog.logIndex === revoked.logIndex;
}

export function describeRevoked(s: RevokedSigner): string {
  if ('key' in s) return `key "${s.key}"`;
  if ('keyless' in s) return `${s.keyless.subject} (issuer ${s.keyless.issuer})`;
  if ('notation' in s) return `Notation certificate sha256 ${s.notation.fingerprint}`;
  return `transparency log entry ${s.logIndex}`;
}

const filtered = new WeakMap<Evidence, { set: RevocationSet; result: Evidence }>();

/**
 * The evidence without what a revocation names; revoked signatures and attestations are listed under
 * `rejected` with the revocation, so a deny says why. The same object when nothing is revoked, and the same
 * result for the same evidence and set (conditions memoize their results per evidence object).
 */
export function withoutRevoked(evidence: Evidence, set: RevocationSet): Evidence {
  if (set.list.length === 0) return evidence;
  const hit = filtered.get(evidence);
  if (hit && hit.set === set) return hit.result;
  const rejected: RejectedArtifact[] = [];
  const keep = <T extends { signer: Signer; tlog?: TlogEvidence; source: RejectedArtifact['source']; artifactDigest: string }>(entries: readonly T[], what: string): T[] =>
    entries.filter((e) => {
      const r = revocationOf(set, e);
      if (!r) return true;
      rejected.push({ source: e.source, artifactDigest: e.artifactDigest, reason: `REVOKED: ${what} by ${describeRevoked(r.signer)} is revoked (${r.id > 0 ? `revocation ${r.id}` : 'the proposed revocation'}: ${r.reason})` });
      return false;
    });
  const signatures = keep(evidence.signatures, 'signature');
  const attestations = keep(evidence.attestations, 'attestation');
  const result = rejected.length === 0 ? evidence : { ...evidence, signatures, attestations, rejected: [...rejected, ...evidence.rejected] };
  filtered.set(evidence, { set, result });
  return result;
}

/**
 * Reasons that begin with the revocations that took trust away from this evidence, so the cause is read
 * first: `revoked: signer key "acme" revoked at T (leaked) — no signature by …`. A reason that cites a
 * revoked artifact gets the lead; when none does (a requirement the revoked attestation met is now
 * simply unmet), the first reason does. Unchanged when nothing is revoked or nothing is refused.
 */
export function leadWithRevocations(reasons: string[], gathered: Evidence | undefined, set: RevocationSet | undefined): string[] {
  if (!gathered || !set || set.list.length === 0 || reasons.length === 0) return reasons;
  const hits = set.list.filter((r) => [...gathered.signatures, ...gathered.attestations].some((e) => names(r.signer, e)));
  if (hits.length === 0) return reasons;
  const lead = `revoked: ${hits.map(describeRevocation).join('; ')} — `;
  const citing = reasons.map((r) => r.includes('REVOKED: '));
  const anyCites = citing.some(Boolean);
  return reasons.map((r, i) => (citing[i] || (!anyCites && i === 0) ? lead + r : r));
}

function describeRevocation(r: Revocation): string {
  const what = 'logIndex' in r.signer ? describeRevoked(r.signer) : `signer ${describeRevoked(r.signer)}`;
  return `${what} revoked${r.time ? ` at ${r.time}` : ''} (${r.reason})`;
}
