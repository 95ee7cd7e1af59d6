import type { ExceptionSet } from '../policy/exception.js';
import type { Decision, PolicyRule } from '../policy/types.js';
import type { Evidence } from '../verify/types.js';
import { judgeVulnerabilities, type VulnerabilityJudgement } from './judge.js';
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
export async function judgeRuleVulnerabilities(rule: PolicyRule, evidence: Evidence | undefined, ctx: GateContext): Promise<VulnerabilityJudgement | undefined> {
  const req = rule.vulnerabilities;
  if (!req || !evidence || (rule.mode !== 'enforce' && rule.mode !== 'warn')) return undefined;
  const knownExploited = req.deny?.knownExploited
    ? ctx.knownExploited
      ? await ctx.knownExploited.current()
      : { error: 'trust.knownExploitedFile is not set' }
    : { ids: new Set<string>() };
  return judgeVulnerabilities(req, evidence, { now: ctx.now, repository: ctx.repository, digests: ctx.digests, exceptions: ctx.exceptions.list, knownExploited });
}

/** The rule's decision with its vulnerability judgement applied: evidence recorded, and a reason that denies (or warns). */
export function applyVulnerabilityJudgement<D extends Decision>(rule: PolicyRule, decision: D, judged: VulnerabilityJudgement | undefined): D {
  if (!judged) return decision;
  const out: D = { ...decision, evidence: { ...(decision.evidence ?? {}), vulnerabilities: judged.evidence } };
  if (!judged.reason) return out;
  return { ...out, outcome: rule.mode === 'warn' ? 'warn' : 'deny', reasons: [...decision.reasons, judged.reason] };
}
