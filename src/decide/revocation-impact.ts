import type { Database } from '../db/types.js';
import { AuditQuery } from '../audit/audit-query.js';
import { evidenceNeedles } from '../audit/signer-needles.js';
import { matchRule } from '../policy/match.js';
import type { PolicyRule } from '../policy/types.js';
import type { RevokedSigner } from '../policy/revocation.js';
import { judgeRule, pacer, type JudgementTrust } from './rule-judgement.js';
import type { Evidence } from '../verify/types.js';

export interface ImpactedDigest {
  repository: string;
  digest: string;
  rule: string | null;
  /** null when no evidence is cached for the digest any more, so it cannot be judged here. */
  wouldBeDenied: boolean | null;
  reasons: string[];
  /** How many served pulls, and the newest of them (at most 20): who pulled, from where, when. */
  pullCount: number;
  pulls: Array<{ time: string; user: string | null; client: string | null; reference: string | null }>;
}

export interface RevocationImpact {
  /** Digests served on this signer's signatures or attestations. */
  admitted: number;
  /** Of those, the ones the active policy would now deny. */
  wouldBeDenied: ImpactedDigest[];
  stillServed: ImpactedDigest[];
  unknown: ImpactedDigest[];
}

const MAX_PULLS_LISTED = 20;
const MAX_DIGESTS = 1000;

/** The served digests a revocation touches, with their cached evidence, gathered before it is judged. */
export interface ImpactCandidates {
  admitted: number;
  digests: Array<{ upstream: string; repository: string; digest: string; pulls: ImpactedDigest['pulls']; count: number; evidence: Evidence | undefined }>;
}

/**
 * What a revocation touches: every manifest served (allow or warn) whose recorded evidence names the
 * signer, with its cached evidence. Judged by `judgeImpact`, which needs the stored revocation (its id is
 * in the reasons, as in a pull's).
 */
export async function gatherImpact(db: Database, signer: RevokedSigner, fingerprint: string): Promise<ImpactCandidates> {
  const needles = evidenceNeedles(signer);
  const query = new AuditQuery(db.audit);
  const byDigest = new Map<string, Omit<ImpactCandidates['digests'][number], 'evidence'>>();
  for await (const batch of query.batches({ kind: 'pull.manifest', evidenceContains: needles }, 0, Number.MAX_SAFE_INTEGER)) {
    for (const row of batch) {
      if ((row.decision !== 'allow' && row.decision !== 'warn') || row.status !== 200 || !row.digest || !row.repository || !row.upstream) continue;
      const key = `${row.repository}@${row.digest}`;
      let entry = byDigest.get(key);
      if (!entry) {
        if (byDigest.size >= MAX_DIGESTS) continue;
        byDigest.set(key, (entry = { upstream: row.upstream, repository: row.repository, digest: row.digest, pulls: [], count: 0 }));
      }
      entry.count++;
      entry.pulls.unshift({ time: row.time, user: row.user, client: row.client, reference: row.reference });
      if (entry.pulls.length > MAX_PULLS_LISTED) entry.pulls.pop();
    }
  }
  const digests: ImpactCandidates['digests'] = [];
  for (const e of byDigest.values()) {
    const json = await db.cache.latestEvidence(e.upstream, e.repository.slice(e.upstream.length + 1), e.digest, fingerprint);
    digests.push({ ...e, evidence: json ? (JSON.parse(json) as Evidence) : undefined });
  }
  return { admitted: byDigest.size, digests };
}

/**
 * The gathered digests judged again now by the active rules on their cached evidence, as a pull would judge
 * them (rule-judgement.ts: signatures, conditions, the `vulnerabilities` block, exceptions), under `trust`,
 * whose revocations include the one proposed. So revoking a scanner's key shows the images whose only
 * trusted scan it signed.
 */
export async function judgeImpact(candidates: ImpactCandidates, rules: readonly PolicyRule[], trust: JudgementTrust): Promise<RevocationImpact> {
  const impact: RevocationImpact = { admitted: candidates.admitted, wouldBeDenied: [], stillServed: [], unknown: [] };
  const now = new Date();
  const pace = pacer();
  for (const e of candidates.digests) {
    await pace();
    const rule = matchRule(rules, e.repository);
    const base = { repository: e.repository, digest: e.digest, pullCount: e.count, pulls: e.pulls };
    if (!rule) {
      impact.wouldBeDenied.push({ ...base, rule: null, wouldBeDenied: true, reasons: [`no policy rule matches ${e.repository}`] });
      continue;
    }
    if (!e.evidence && (rule.mode === 'enforce' || rule.mode === 'warn')) {
      impact.unknown.push({ ...base, rule: rule.name, wouldBeDenied: null, reasons: ['no cached evidence for this digest'] });
      continue;
    }
    const d = await judgeRule(rule, e.evidence, { ...trust, now, repository: e.repository, tag: '', digests: [e.digest] });
    const denied = d.outcome === 'deny';
    (denied ? impact.wouldBeDenied : impact.stillServed).push({ ...base, rule: rule.name, wouldBeDenied: denied, reasons: d.reasons });
  }
  return impact;
}
