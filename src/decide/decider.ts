import type { CacheIndex } from '../db/cache-index.js';
import type { Logger } from '../logger.js';
import { matchRule } from '../policy/match.js';
import { evaluateRule } from '../policy/evaluate.js';
import type { ActivePolicy, BaseImageFact, PolicyRule, PolicySource } from '../policy/types.js';
import type { Target } from '../upstream/target.js';
import type { ArtifactSource, Evidence, SubjectManifest } from '../verify/types.js';
import { baseAnnotations } from './base-images.js';
import type { EvidenceCache } from './evidence-cache.js';
import type { BaseImageSource, DecisionResult, TrustSource } from './types.js';
import { NO_REVOCATIONS, type RevocationSet } from '../policy/revocation.js';
import { nameExcepted, NO_EXCEPTIONS } from '../policy/exception.js';
import type { KnownExploitedCatalog } from '../vuln/known-exploited.js';
import { currentTrust, exceptedDecision, judgeRule } from './rule-judgement.js';

const NO_CHANGES: TrustSource = { revocations: () => NO_REVOCATIONS, exceptions: () => NO_EXCEPTIONS };

/**
 * Judges one image manifest on its own digest: the rule that matches the name, the evidence for the digest,
 * revocations, base images, the cover of a verified parent index, and exceptions. The rule is re-evaluated
 * on every request, so a policy change or a day passing takes effect at once. Anything that goes wrong
 * while deciding denies (fail closed).
 */
export class Decider {
  constructor(
    private readonly policy: PolicySource,
    private readonly index: CacheIndex,
    private readonly evidence: EvidenceCache,
    private readonly log: Logger,
    private readonly trust: TrustSource = NO_CHANGES,
    private readonly baseImages?: BaseImageSource,
    /** `trust.knownExploitedFile`, for rules that deny known-exploited vulnerabilities. */
    private readonly knownExploited?: KnownExploitedCatalog,
  ) {}

  /**
   * `loadParent` fetches a cached parent index (for multi-platform images); `source` reaches signature
   * artifacts in the target repository; `tag` is the tag the client asked for (policy conditions see it).
   */
  async decide(
    target: Target,
    subject: SubjectManifest,
    source: ArtifactSource,
    loadParent: (digest: string) => Promise<SubjectManifest | undefined>,
    tag: string | undefined,
    now: Date,
  ): Promise<DecisionResult> {
    const active = this.policy.current();
    const revocations = this.trust.revocations();
    try {
      const own = await this.decideOne(target, subject, source, active, revocations, now, tag);
      if (own.outcome === 'allow' || subject.parsed.isIndex) return own;
      // A child of a verified index is covered by the index's signature.
      for (const parentDigest of await this.index.parents(target.upstream.name, target.repository, subject.digest)) {
        const parent = await loadParent(parentDigest);
        if (!parent) continue;
        const parentDecision = await this.decideOne(target, parent, source, active, revocations, now);
        if (parentDecision.outcome !== 'allow') continue;
        const rule = matchRule(active.rules, target.canonical)!;
        const evidence = await this.evidence.get(target, subject, source);
        const baseImage = await this.baseFact(rule, evidence);
        const covered = await judgeRule(rule, evidence, { ...currentTrust(this.trust, this.knownExploited, revocations), now, parentVerdict: 'allow', repository: target.canonical, tag, digests: [subject.digest, parent.digest], baseImage });
        // An exception for the index covers the platform manifests it lists.
        return { ...covered, evidence: { ...(covered.evidence ?? {}), coveredByIndex: parent.digest }, policyVersion: active.version };
      }
      return own;
    } catch (err) {
      this.log.error('decision failed; denying', { image: target.canonical, digest: subject.digest, error: String(err) });
      return this.deny(target, `verification failed: ${(err as Error).message ?? String(err)}`);
    }
  }

  /** The deny for a name that no rule or a `deny` rule covers, decided without any evidence; else undefined. */
  refuseName(target: Target, now: Date): DecisionResult | undefined {
    const active = this.policy.current();
    const rule = matchRule(active.rules, target.canonical);
    if (!rule) {
      if (nameExcepted(this.trust.exceptions(), target.canonical, now)) return undefined;
      return { outcome: 'deny', rule: null, mode: null, reasons: [`no policy rule matches ${target.canonical}`], policyVersion: active.version };
    }
    if (rule.mode !== 'deny') return undefined;
    // An exception that explicitly covers the deny rule lets the name through; the digest is judged later.
    if (nameExcepted(this.trust.exceptions(), target.canonical, now)) return undefined;
    return { ...evaluateRule(rule, undefined, { now }), policyVersion: active.version };
  }

  /** A deny with a reason, under the rule that matches the target (fail closed when nothing can be decided). */
  deny(target: Target, reason: string): DecisionResult {
    const active = this.policy.current();
    const rule = matchRule(active.rules, target.canonical);
    return { outcome: 'deny', rule: rule?.name ?? null, mode: rule?.mode ?? null, reasons: [reason], policyVersion: active.version };
  }

  private async decideOne(
    target: Target,
    subject: SubjectManifest,
    source: ArtifactSource,
    active: ActivePolicy,
    revocations: RevocationSet,
    now: Date,
    tag?: string,
  ): Promise<DecisionResult> {
    const rule = matchRule(active.rules, target.canonical);
    if (!rule) {
      const none: DecisionResult = { outcome: 'deny', rule: null, mode: null, reasons: [`no policy rule matches ${target.canonical}`], policyVersion: active.version };
      return exceptedDecision(none, this.trust.exceptions(), target.canonical, [subject.digest], now);
    }
    const needsEvidence = rule.mode === 'enforce' || rule.mode === 'warn';
    const evidence = needsEvidence ? await this.evidence.get(target, subject, source) : undefined;
    const baseImage = evidence ? await this.baseFact(rule, evidence) : undefined;
    const judged = await judgeRule(rule, evidence, { ...currentTrust(this.trust, this.knownExploited, revocations), now, repository: target.canonical, tag, digests: [subject.digest], baseImage });
    return { ...judged, policyVersion: active.version };
  }

  /** The image's base, resolved only for a rule that checks it; a rule with baseImage and no resolver cannot pass. */
  private async baseFact(rule: PolicyRule, evidence: Evidence): Promise<BaseImageFact | undefined> {
    if (!rule.baseImage || (rule.mode !== 'enforce' && rule.mode !== 'warn')) return undefined;
    if (!this.baseImages) {
      const named = baseAnnotations(evidence);
      return named && { ...named, error: 'base images are not resolved here' };
    }
    return this.baseImages.fact(evidence);
  }
}
