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
      : NOT_SET
    : NO_CATALOG;
  const key = `${ctx.repository}\n${ctx.digests.join(',')}`;
  const memo = recent.get(evidence);
  const hit = memo?.get(key);
  const at = ctx.now.getTime();
  // A scan of thousands of findings takes milliseconds to judge: reuse a judgement for a second, while the
  // rule, the exceptions and the catalog are the very same objects (each is replaced when it changes).
  if (hit && hit.req === req && hit.exceptions === ctx.exceptions && hit.kev === knownExploited && at >= hit.at && at < hit.until) return hit.judged;
  const judged = judgeVulnerabilities(req, evidence, { now: ctx.now, repository: ctx.repository, digests: ctx.digests, exceptions: ctx.exceptions.list, knownExploited });
  const entries = memo ?? new Map<string, Remembered>();
  if (!memo) recent.set(evidence, entries);
  if (entries.size >= 16) entries.clear();
  // Never past the moment an exception it relied on ends.
  const ends = judged.view.suppressed.flatMap((x) => (x.by === 'exception' ? [Date.parse(x.until)] : []));
  entries.set(key, { req, exceptions: ctx.exceptions, kev: knownExploited, at, until: Math.min(at + REUSE_MS, ...ends), judged });
  return judged;
}

const REUSE_MS = 1000;
const NO_CATALOG = { ids: new Set<string>() };
const NOT_SET = { error: 'trust.knownExploitedFile is not set' };
interface Remembered {
  req: object;
  exceptions: ExceptionSet;
  kev: object;
  at: number;
  until: number;
  judged: VulnerabilityJudgement;
}
/** Judgements by evidence object: cached evidence is one object per digest until it is gathered again. */
const recent = new WeakMap<Evidence, Map<string, Remembered>>();

/** The rule's decision with its vulnerability judgement applied: evidence recorded, and a reason that denies (or warns). */
export function applyVulnerabilityJudgement<D extends Decision>(rule: PolicyRule, decision: D, judged: VulnerabilityJudgement | undefined): D {
  if (!judged) return decision;
  const out: D = { ...decision, evidence: { ...(decision.evidence ?? {}), vulnerabilities: judged.evidence } };
  if (!judged.reason) return out;
  return { ...out, outcome: rule.mode === 'warn' ? 'warn' : 'deny', reasons: [...decision.reasons, judged.reason] };
}
