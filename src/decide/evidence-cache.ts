import { PROCESS_OWNER, ownerIsGone } from '../cluster/process-owner.js';
import type { HeldLease, LeaseStore } from '../db/types.js';
import type { CacheIndex, EvidenceKey } from '../db/cache-index.js';
import type { Logger } from '../logger.js';
import type { Target } from '../upstream/target.js';
import { scannedVulnerabilityIds } from '../vuln/evidence-ids.js';
import type { ArtifactSource, Evidence, EvidenceGatherer, SubjectManifest } from '../verify/types.js';

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
 * Evidence for a digest, gathered in the repository being pulled once per digest and trust material, and
 * cached (memory, then the database) for verifyTtl. Expired evidence is kept when regathering fails.
 */
export class EvidenceCache {
  private readonly memory = new Map<string, { evidence: Evidence; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<Evidence>>();

  constructor(
    private readonly index: CacheIndex,
    private readonly gatherer: EvidenceGatherer,
    private readonly verifyTtlMs: number,
    private readonly log: Logger,
    /** Shared with the other processes on the database, so each evidence is gathered by one of them at a time. */
    private readonly leases?: LeaseStore,
  ) {}

  /** Set by the app to observe verification time. */
  onGathered?: (seconds: number) => void;

  /** Cached evidence for a digest in the target's repository, gathered on a miss. */
  async get(target: Target, subject: SubjectManifest, source: ArtifactSource): Promise<Evidence> {
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

  /** Drops remembered evidence for digests in every repository (after a purge), so they are verified again. */
  forget(digests: readonly string[]): void {
    const gone = new Set(digests);
    for (const key of [...this.memory.keys()]) {
      if (gone.has(key.split('\0')[2]!)) this.memory.delete(key);
    }
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
    await this.index.putEvidence(key, JSON.stringify(evidence), expiresAt, scannedVulnerabilityIds(evidence));
    this.remember(memoryKey, evidence, expiresAt);
    return evidence;
  }

  private remember(key: string, evidence: Evidence, expiresAt: number): void {
    if (this.memory.size >= MEMORY_CACHE_LIMIT) this.memory.delete(this.memory.keys().next().value!);
    this.memory.set(key, { evidence, expiresAt });
  }
}
