import { PROCESS_OWNER, ownerIsGone } from '../cluster/process-owner.js';
import type { HeldLease, LeaseStore } from '../db/types.js';
import type { CacheIndex, EvidenceKey } from '../db/cache-index.js';
import type { Logger } from '../logger.js';
import { matchRule } from '../policy/match.js';
import { evaluateRule } from '../policy/evaluate.js';
import type { BaseImageFact, Decision, PolicyRule } from '../policy/types.js';
import type { ArtifactSource, Evidence, EvidenceGatherer, SubjectManifest } from '../verify/types.js';
import type { Target } from '../upstream/target.js';
import { baseAnnotations } from './base-images.js';
import { isDigest } from '../oci/digest.js';
import { NO_REVOCATIONS, type RevocationSet } from '../policy/revocation.js';
import { exceptionFor, nameExcepted, NO_EXCEPTIONS, underException, type ExceptionSet } from '../policy/exception.js';

export interface ActivePolicy {
  version: number;
  rules: readonly PolicyRule[];
}

export interface PolicySource {
  current(): ActivePolicy;
}

/** Trust that changed after evidence was gathered: revoked signers, time-boxed exceptions (held in memory). */
export interface TrustSource {
  revocations(): RevocationSet;
  exceptions(): ExceptionSet;
}

/** Resolves an image's base for `baseImage` rules (decide/base-images.ts); undefined when it names none. */
export interface BaseImageSource {
  fact(evidence: Evidence): Promise<BaseImageFact | undefined>;
}

const NO_CHANGES: TrustSource = { revocations: () => NO_REVOCATIONS, exceptions: () => NO_EXCEPTIONS };

export interface DecisionResult extends Decision {
  policyVersion: number;
}

const MEMORY_CACHE_LIMIT = 5000;
/**
 * Evidence that verified nothing (no signature, no attestation) or could not be gathered is checked again
 * after this long: a release signed a moment after its first pull is not denied for the whole verifyTtl,
 * and a hot unsigned image still costs the upstream one lookup per interval, not one per pull.
 */
export const RECHECK_NOTHING_MS = 5_000;
/** How long another process may take to gather evidence before this one gathers it too. */
const EVIDENCE_LEASE_MS = 30_000;

/**
 * Decides whether a manifest may be served. Evidence is gathered in the repository being pulled, once per
 * digest and trust material, and cached (memory, then the database) for verifyTtl; the rule is re-evaluated
 * on every request, so a policy change or a day passing takes effect at once. Anything that goes wrong
 * while deciding denies (fail closed).
 */
export class Decider {
  private readonly memory = new Map<string, { evidence: Evidence; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<Evidence>>();

  constructor(
    private readonly policy: PolicySource,
    private readonly index: CacheIndex,
    private readonly gatherer: EvidenceGatherer,
    private readonly verifyTtlMs: number,
    private readonly log: Logger,
    private readonly trust: TrustSource = NO_CHANGES,
    private readonly baseImages?: BaseImageSource,
    /** Shared with the other processes on the database, so each evidence is gathered by one of them at a time. */
    private readonly leases?: LeaseStore,
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
    tag?: string,
  ): Promise<DecisionResult> {
    const active = this.policy.current();
    const revocations = this.trust.revocations();
    try {
      const own = await this.decideOne(target, subject, source, active, revocations, tag);
      if (own.outcome === 'allow' || subject.parsed.isIndex) return own;
      // A child of a verified index is covered by the index's signature.
      for (const parentDigest of await this.index.parents(target.upstream.name, target.repository, subject.digest)) {
        const parent = await loadParent(parentDigest);
        if (!parent) continue;
        const parentDecision = await this.decideOne(target, parent, source, active, revocations);
        if (parentDecision.outcome !== 'allow') continue;
        const rule = matchRule(active.rules, target.canonical)!;
        const evidence = await this.evidence(target, subject, source);
        const now = new Date();
        const baseImage = await this.baseFact(rule, evidence);
        const covered = evaluateRule(rule, evidence, { now, parentVerdict: 'allow', repository: target.canonical, tag, revocations, baseImage });
        // An exception for the index covers the platform manifests it lists.
        return this.except(target, [subject.digest, parent.digest], {
          ...covered,
          evidence: { ...(covered.evidence ?? {}), coveredByIndex: parent.digest },
          policyVersion: active.version,
        }, now);
      }
      return own;
    } catch (err) {
      this.log.error('decision failed; denying', { image: target.canonical, digest: subject.digest, error: String(err) });
      return this.deny(target, `verification failed: ${(err as Error).message ?? String(err)}`);
    }
  }

  /** The deny for a name that no rule or a `deny` rule covers, decided without any evidence; else undefined. */
  refuseName(target: Target): DecisionResult | undefined {
    const active = this.policy.current();
    const rule = matchRule(active.rules, target.canonical);
    if (!rule) {
      if (nameExcepted(this.trust.exceptions(), target.canonical, new Date())) return undefined;
      return { outcome: 'deny', rule: null, mode: null, reasons: [`no policy rule matches ${target.canonical}`], policyVersion: active.version };
    }
    if (rule.mode !== 'deny') return undefined;
    // An exception that explicitly covers the deny rule lets the name through; the digest is judged later.
    if (nameExcepted(this.trust.exceptions(), target.canonical, new Date())) return undefined;
    return { ...evaluateRule(rule, undefined, { now: new Date() }), policyVersion: active.version };
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
    tag?: string,
  ): Promise<DecisionResult> {
    const now = new Date();
    const rule = matchRule(active.rules, target.canonical);
    if (!rule) {
      const none: DecisionResult = { outcome: 'deny', rule: null, mode: null, reasons: [`no policy rule matches ${target.canonical}`], policyVersion: active.version };
      return this.except(target, [subject.digest], none, now);
    }
    const needsEvidence = rule.mode === 'enforce' || rule.mode === 'warn';
    const evidence = needsEvidence ? await this.evidence(target, subject, source) : undefined;
    const baseImage = evidence ? await this.baseFact(rule, evidence) : undefined;
    const decision = { ...evaluateRule(rule, evidence, { now, repository: target.canonical, tag, revocations, baseImage }), policyVersion: active.version };
    return this.except(target, [subject.digest], decision, now);
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

  /** A deny that an active exception covers is served, its reasons kept and the exception recorded. */
  private except(target: Target, digests: readonly string[], decision: DecisionResult, now: Date): DecisionResult {
    const e = exceptionFor(this.trust.exceptions(), decision, target.canonical, digests, now);
    return e ? underException(decision, e) : decision;
  }

  /** Cached evidence for a digest in the target's repository, gathered on a miss; expired evidence is kept when regathering fails. */
  async evidence(target: Target, subject: SubjectManifest, source: ArtifactSource): Promise<Evidence> {
    const key: EvidenceKey = {
      upstream: target.upstream.name,
      repository: target.repository,
      digest: subject.digest,
      fingerprint: this.gatherer.fingerprint,
    };
    const memoryKey = `${key.upstream}\0${key.repository}\0${key.digest}\0${key.fingerprint}`;
    const now = Date.now();
    const hit = this.memory.get(memoryKey);
    if (hit && hit.expiresAt > now) return hit.evidence;
    const stored = hit ? undefined : await this.index.getEvidence(key);
    const previous = hit?.evidence ?? (stored ? (JSON.parse(stored.json) as Evidence) : undefined);
    if (stored && stored.expiresAt > now && previous) {
      this.remember(memoryKey, previous, stored.expiresAt);
      return previous;
    }
    let pending = this.inflight.get(memoryKey);
    if (!pending) {
      pending = this.gatherOnce(key, memoryKey, subject, source, previous).finally(() => this.inflight.delete(memoryKey));
      this.inflight.set(memoryKey, pending);
    }
    return pending;
  }

  /**
   * Gathers unless another process (a sibling worker, a replica) is gathering the same evidence right now:
   * then waits for what it stores, so a first pull spread over workers asks the upstream for its signatures
   * and image config once. If that process stores nothing (it failed, or died), this one gathers.
   */
  private async gatherOnce(key: EvidenceKey, memoryKey: string, subject: SubjectManifest, source: ArtifactSource, previous: Evidence | undefined): Promise<Evidence> {
    if (!this.leases) return this.gather(key, memoryKey, subject, source, previous);
    const leaseKey = `evidence:${key.upstream}/${key.repository}@${key.digest}#${key.fingerprint}`;
    const held = await this.takeLease(leaseKey);
    if (held) {
      const stored = await this.awaitStored(key, leaseKey);
      if (stored) {
        this.remember(memoryKey, stored.evidence, stored.expiresAt);
        return stored.evidence;
      }
      return this.gather(key, memoryKey, subject, source, previous);
    }
    try {
      return await this.gather(key, memoryKey, subject, source, previous);
    } finally {
      await this.leases.release(leaseKey, PROCESS_OWNER).catch(() => {});
    }
  }

  /** Undefined when this process now holds the lease; otherwise the live holder. */
  private async takeLease(leaseKey: string): Promise<HeldLease | undefined> {
    const leases = this.leases!;
    try {
      const held = await leases.acquire(leaseKey, PROCESS_OWNER, '', EVIDENCE_LEASE_MS);
      if (!held || !ownerIsGone(held.owner)) return held;
      await leases.release(leaseKey, held.owner);
      return await leases.acquire(leaseKey, PROCESS_OWNER, '', EVIDENCE_LEASE_MS);
    } catch {
      return undefined; // the lease is an optimisation: without it, gather here
    }
  }

  private async awaitStored(key: EvidenceKey, leaseKey: string): Promise<{ evidence: Evidence; expiresAt: number } | undefined> {
    for (let polls = 0; ; polls++) {
      const stored = await this.index.getEvidence(key);
      if (stored && stored.expiresAt > Date.now()) return { evidence: JSON.parse(stored.json) as Evidence, expiresAt: stored.expiresAt };
      if (polls % 10 === 9) {
        const holder = await this.leases!.holder(leaseKey);
        if (!holder || ownerIsGone(holder.owner)) return undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async gather(key: EvidenceKey, memoryKey: string, subject: SubjectManifest, source: ArtifactSource, previous: Evidence | undefined): Promise<Evidence> {
    const started = performance.now();
    const evidence = await this.gatherer.gather(subject, source);
    this.onGathered?.((performance.now() - started) / 1000);
    const recheckAt = Date.now() + Math.min(this.verifyTtlMs, RECHECK_NOTHING_MS);
    if (evidence.gatherError) {
      if (previous && !previous.gatherError) {
        this.log.warn('evidence refresh failed; keeping cached evidence', { digest: subject.digest, error: evidence.gatherError });
        this.remember(memoryKey, previous, recheckAt);
        return previous;
      }
      this.remember(memoryKey, evidence, recheckAt); // never stored: a restart or another replica tries at once
      return evidence;
    }
    const foundNothing = evidence.signatures.length === 0 && evidence.attestations.length === 0;
    const expiresAt = foundNothing ? recheckAt : Date.now() + this.verifyTtlMs;
    await this.index.putEvidence(key, JSON.stringify(evidence), expiresAt);
    this.remember(memoryKey, evidence, expiresAt);
    return evidence;
  }

  /** Drops remembered evidence for digests in every repository (after a purge), so they are verified again. */
  forget(digests: readonly string[]): void {
    const gone = new Set(digests);
    for (const key of [...this.memory.keys()]) {
      if (gone.has(key.split('\0')[2]!)) this.memory.delete(key);
    }
  }

  /** Set by the app to observe verification time. */
  onGathered?: (seconds: number) => void;

  private remember(key: string, evidence: Evidence, expiresAt: number): void {
    if (this.memory.size >= MEMORY_CACHE_LIMIT) this.memory.delete(this.memory.keys().next().value!);
    this.memory.set(key, { evidence, expiresAt });
  }
}

/** The subject of a cosign tag (`sha256-<hex>.sig|.att|.sbom` or the bare referrers tag). */
export function subjectOfArtifactTag(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})(?:\.(?:sig|att|sbom))?$/.exec(tag);
  const digest = m ? `sha256:${m[1]}` : undefined;
  return digest && isDigest(digest) ? digest : undefined;
}
