import type { ExceptionSet } from '../policy/exception.js';
import type { Decision, PolicyRule } from '../policy/types.js';
import type { Evidence } from '../verify/types.js';
import { judgeVulnerabilities } from './judge.js';
import type { KnownExploitedCatalog } from './known-exploited.js';

export interface GateContext {
  now: Date;
  repository: string;
  /** The manifest digest, and the index digest when judged under one. */
  digests: readonly string[];
  exceptions: ExceptionSet;
  /** `trust.knownExploitedFile`, when set. */
  knownExploited?: KnownExploitedCatalog;
}

/**
 * The vulnerability gate, applied to a rule's decision: a rule with a `vulnerabilities` block denies (or warns)
 * when the judged scan is missing, stale or lists a finding its `deny` names; the decision's evidence records
 * the scan, the blocking ids and what suppressed the others. Other rules pass through unchanged.
 */
export async function applyVulnerabilityGate<D extends Decision>(rule: PolicyRule, decision: D, evidence: Evidence | undefined, ctx: GateContext): Promise<D> {
  const req = rule.vulnerabilities;
  if (!req || !evidence || (rule.mode !== 'enforce' && rule.mode !== 'warn')) return decision;
  const knownExploited = req.deny?.knownExploited
    ? ctx.knownExploited
      ? await ctx.knownExploited.current()
      : { error: 'trust.knownExploitedFile is not set' }
    : { ids: new Set<string>() };
  const judged = judgeVulnerabilities(req, evidence, { now: ctx.now, repository: ctx.repository, digests: ctx.digests, exceptions: ctx.exceptions.list, knownExploited });
  const out: D = { ...decision, evidence: { ...(decision.evidence ?? {}), vulnerabilities: judged.evidence } };
  if (!judged.reason) return out;
  return { ...out, outcome: rule.mode === 'warn' ? 'warn' : 'deny', reasons: [...decision.reasons, judged.reason] };
}
