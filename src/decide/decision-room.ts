import type { CacheIndex } from '../db/cache-index.js';
import type { LeaseStore, TagStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import { isDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { PolicySource } from '../policy/types.js';
import type { Target } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { EvidenceGatherer, SubjectManifest } from '../verify/types.js';
import { ArtifactProver, DEFAULT_ARTIFACT_BLOB_BYTES, type ArtifactVerdict } from './artifact-proof.js';
import { BaseImages } from './base-images.js';
import { Decider } from './decider.js';
import { EvidenceCache } from './evidence-cache.js';
import { judgeTagDrift } from './tag-drift.js';
import { KnownExploitedCatalog } from '../vuln/known-exploited.js';
import type { ArtifactSources, DecisionResult, DriftEvent, ManifestLike, ManifestSource, TrustSource } from './types.js';

export interface DecideInput<M extends ManifestLike> {
  target: Target;
  manifest: M;
  /** The tag the client asked for: policy conditions see it, a cosign tag names an artifact's subject, and it may have drifted. */
  tag?: string;
  /** The moment judged (freshness, exceptions, revocations); now by default. */
  now?: Date;
  /**
   * For a pull: a verified tag that moved upstream is judged (`upstreams[].tagDrift`) and its move recorded
   * through this, once. Without it (an evaluation) the manifest is judged as it is.
   */
  recordDrift?: (event: DriftEvent) => Promise<void>;
}

export interface RoomDecision<M extends ManifestLike> {
  decision: DecisionResult;
  /** The manifest to serve: the one given, or under `keep-verified` tag drift the last verified one. */
  manifest: M;
  /** Set when the manifest is a proven artifact: it and its blobs take this subject digest's decision. */
  borrowedFrom?: string;
}

/**
 * The one place that turns (target, manifest, time) into a decision with its reasons and evidence: the
 * artifact proof (whether a manifest borrows its subject's decision), the rule, evidence and its caches,
 * revocations, exceptions, base images and tag drift. It serves nothing and writes no audit event.
 */
export class DecisionRoom<M extends ManifestLike> {
  constructor(
    private readonly d: {
      decider: Decider;
      evidence: EvidenceCache;
      artifacts: ArtifactProver;
      manifests: ManifestSource<M>;
      sources: ArtifactSources;
      /** Verified tags (`upstreams[].tagDrift`); without it tags simply follow the upstream. */
      tags?: TagStore;
    },
  ) {}

  /** The deny for a name that no rule or a `deny` rule covers, decided before anything is asked upstream; else undefined. */
  refuseName(target: Target, now = new Date()): DecisionResult | undefined {
    return this.d.decider.refuseName(target, now);
  }

  async decide(input: DecideInput<M>): Promise<RoomDecision<M>> {
    const { target, manifest, tag, recordDrift } = input;
    const now = input.now ?? new Date();
    const verdict = await this.d.artifacts.judge(target, manifest, tag, this.d.sources(target));
    const decision = await this.decideManifest(target, manifest, tag, now, verdict);
    if (verdict.kind === 'artifact') return { decision, manifest, borrowedFrom: verdict.subject };
    if (tag === undefined || verdict.kind !== 'image' || !this.d.tags || !recordDrift) return { decision, manifest };
    return judgeTagDrift({
      tags: this.d.tags,
      resolve: (t, digest) => this.d.manifests.resolve(t, { kind: 'digest', digest }),
      decideDigest: (t, m, at) => this.decideManifest(t, m, undefined, at),
      deny: (t, reason) => this.d.decider.deny(t, reason),
    }, { target, tag, manifest, decision, now, record: recordDrift });
  }

  /** The decision for a manifest digest known in this repository (referrers and blobs ask by digest). */
  async decideDigest(target: Target, digest: string, now = new Date()): Promise<DecisionResult> {
    if (!isDigest(digest)) throw new OciError('DIGEST_INVALID');
    const manifest = await this.d.manifests.resolve(target, { kind: 'digest', digest });
    return (await this.decide({ target, manifest, now })).decision;
  }

  /**
   * The decision a blob is served under: the first of the manifests linking it that is not denied. A blob
   * that an ordinary manifest of this repository references is served only under such a manifest's decision:
   * an artifact listing an image's layer as its own cannot lend that layer its subject's decision.
   */
  async decideBlob(target: Target, links: readonly { manifest: string; viaArtifact: boolean }[], now = new Date()): Promise<DecisionResult> {
    if (links.length === 0) throw new RangeError('a blob is decided under the manifests that link it');
    const own = links.filter((l) => !l.viaArtifact);
    let decision: DecisionResult | undefined;
    for (const link of own.length > 0 ? own : links) {
      decision = await this.decideDigest(target, link.manifest, now);
      if (decision.outcome !== 'deny') break;
    }
    return decision!;
  }

  /** Drops remembered evidence for digests (after a purge), so they are verified again. */
  forget(digests: readonly string[]): void {
    this.d.evidence.forget(digests);
  }

  /**
   * Signature, attestation and SBOM artifacts, proven by their content, take the decision of the image they
   * are about; everything else is judged on its own digest.
   */
  private async decideManifest(target: Target, m: M, tag: string | undefined, now: Date, known?: ArtifactVerdict): Promise<DecisionResult> {
    const verdict = known ?? (await this.d.artifacts.judge(target, m, tag, this.d.sources(target)));
    if (verdict.kind === 'unproven') return this.d.decider.deny(target, verdict.reason);
    if (verdict.kind === 'artifact') {
      let subject: M;
      try {
        subject = await this.d.manifests.resolve(target, { kind: 'digest', digest: verdict.subject as Digest });
      } catch (err) {
        return this.d.decider.deny(target, `signature artifact for ${verdict.subject}, which cannot be fetched: ${(err as Error).message}`);
      }
      const decision = await this.decideImage(target, subject, undefined, now);
      return { ...decision, evidence: { ...(decision.evidence ?? {}), artifactFor: verdict.subject } };
    }
    const own = await this.decideImage(target, m, tag, now);
    return verdict.disguise && own.outcome === 'deny' ? { ...own, reasons: [...own.reasons, verdict.disguise] } : own;
  }

  private decideImage(target: Target, m: M, tag: string | undefined, now: Date): Promise<DecisionResult> {
    const loadParent = async (parent: string) => {
      if (!isDigest(parent)) return undefined;
      const p = await this.d.manifests.cached(target, parent);
      return p && asSubject(p);
    };
    return this.d.decider.decide(target, asSubject(m), this.d.sources(target), loadParent, tag, now);
  }
}

function asSubject(m: ManifestLike): SubjectManifest {
  return { digest: m.digest, bytes: m.bytes, parsed: m.parsed };
}

/** Builds the decision room from the config's settings and the shared services. */
export function createDecisionRoom<M extends ManifestLike>(s: {
  policy: PolicySource;
  trust: TrustSource;
  index: CacheIndex;
  gatherer: EvidenceGatherer;
  verifyTtlMs: number;
  leases?: LeaseStore;
  tags?: TagStore;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  manifests: ManifestSource<M>;
  sources: ArtifactSources;
  /** `pull.maxArtifactSize` */
  maxArtifactBytes?: number;
  log: Logger;
  onGathered?: (seconds: number) => void;
  /** `trust.knownExploitedFile`: the known-exploited catalog, read again when it changes. */
  knownExploitedFile?: string;
}): DecisionRoom<M> {
  const evidence = new EvidenceCache(s.index, s.gatherer, s.verifyTtlMs, s.log, s.leases);
  evidence.onGathered = s.onGathered;
  const baseImages = new BaseImages(s.upstreams, s.manifests, s.sources, s.log);
  const kev = s.knownExploitedFile ? new KnownExploitedCatalog(s.knownExploitedFile, (error) => s.log.error('known-exploited catalog unreadable', { error })) : undefined;
  const decider = new Decider(s.policy, s.index, evidence, s.log, s.trust, baseImages, kev);
  const artifacts = new ArtifactProver(s.manifests, s.maxArtifactBytes ?? DEFAULT_ARTIFACT_BLOB_BYTES);
  return new DecisionRoom({ decider, evidence, artifacts, manifests: s.manifests, sources: s.sources, tags: s.tags });
}
