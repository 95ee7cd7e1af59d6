import { evaluateRule } from '../policy/evaluate.js';
import { exceptionFor, underException, type ExceptionSet } from '../policy/exception.js';
import { withoutRevoked, type RevocationSet } from '../policy/revocation.js';
import type { BaseImageFact, Decision, PolicyRule } from '../policy/types.js';
import type { Evidence } from '../verify/types.js';
import { applyVulnerabilityJudgement, judgeRuleVulnerabilities } from '../vuln/gate.js';
import type { KnownExploitedCatalog } from '../vuln/known-exploited.js';
import type { TrustSource } from './types.js';

/** Trust that changes after evidence was gathered, as judged by one decision. */
export interface JudgementTrust {
  revocations: RevocationSet;
  exceptions: ExceptionSet;
  /** `trust.knownExploitedFile`, for rules that deny known-exploited vulnerabilities. */
  knownExploited?: KnownExploitedCatalog;
}

/** The trust a judgement meets now: the source's revocations (or a proposed set instead) and exceptions, and the catalog. */
export function currentTrust(source: TrustSource, knownExploited: KnownExploitedCatalog | undefined, revocations = source.revocations()): JudgementTrust {
  return { revocations, exceptions: source.exceptions(), knownExploited };
}

export interface RuleJudgementContext extends JudgementTrust {
  now: Date;
  /** `<upstream>/<repository>`. */
  repository: string;
  /** The tag asked for ('' or undefined by digest). */
  tag?: string;
  /** The manifest digest, and the index digest when judged under a verified index (exceptions match either). */
  digests: readonly string[];
  /** 'allow' when judged under a verified parent index. */
  parentVerdict?: 'allow';
  baseImage?: BaseImageFact;
}

/**
 * One rule applied to one digest's evidence: its requirements and conditions, its `vulnerabilities` block,
 * then the exceptions. Live pulls (decider.ts), policy replay and revocation impact all judge through here,
 * so a draft or a proposed revocation is judged exactly as a pull would be.
 */
export async function judgeRule(rule: PolicyRule, evidence: Evidence | undefined, ctx: RuleJudgementContext): Promise<Decision> {
  // A revoked scanner's or VEX author's attestations no longer count, as for every other requirement.
  const vulns = await judgeRuleVulnerabilities(rule, evidence && withoutRevoked(evidence, ctx.revocations), {
    now: ctx.now,
    repository: ctx.repository,
    digests: ctx.digests,
    exceptions: ctx.exceptions,
    knownExploited: ctx.knownExploited,
  });
  const judged = evaluateRule(rule, evidence, {
    now: ctx.now,
    parentVerdict: ctx.parentVerdict,
    repository: ctx.repository,
    tag: ctx.tag,
    revocations: ctx.revocations,
    baseImage: ctx.baseImage,
    vulnerabilities: vulns?.view,
  });
  return exceptedDecision(applyVulnerabilityJudgement(rule, judged, vulns), ctx.exceptions, ctx.repository, ctx.digests, ctx.now);
}

/** A deny that an active exception covers is served, its reasons kept and the exception recorded. */
export function exceptedDecision<D extends Decision>(decision: D, exceptions: ExceptionSet, repository: string, digests: readonly string[], now: Date): D {
  const e = exceptionFor(exceptions, decision, repository, digests, now);
  return e ? underException(decision, e) : decision;
}

/** How long a loop of judgements may hold the event loop before other requests get a turn. */
const TURN_MS = 20;

/**
 * For loops that judge many pulls or digests (a scan of thousands of findings takes milliseconds to judge):
 * the returned function lets the event loop run once TURN_MS of work has passed since it last did.
 */
export function pacer(): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < TURN_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
