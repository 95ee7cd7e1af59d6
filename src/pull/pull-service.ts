import { Readable } from 'node:stream';
import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditEventInput } from '../audit/types.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { isDigest, type Digest } from '../oci/digest.js';
import { referencedBlobs } from '../oci/manifest.js';
import { acceptsMediaType } from '../oci/media-types.js';
import { parseRange } from '../oci/range.js';
import { referenceString, type Reference } from '../oci/reference.js';
import type { SubjectManifest } from '../verify/types.js';
import { createArtifactSource } from './artifact-source.js';
import type { BlobFetcher } from './blob-fetcher.js';
import { ArtifactProver, DEFAULT_ARTIFACT_BLOB_BYTES, type ArtifactVerdict } from '../decide/artifact-proof.js';
import type { Decider, DecisionResult } from '../decide/decider.js';
import type { FetchedManifest, ManifestFetcher } from './manifest-fetcher.js';
import type { Target } from '../upstream/target.js';
import type { TagStore } from '../db/types.js';

/** Blobs up to this size are verified on every read from the cache. */
const SMALL_BLOB_BYTES = 1024 * 1024;

export interface RequestInfo {
  requestId: string;
  client: string;
  user: string | null;
}

export interface ManifestResponse {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export interface BlobResponse {
  status: 200 | 206 | 416;
  size: number;
  digest: Digest;
  range?: { start: number; end: number };
  /** Absent for HEAD and 416. */
  body?: Readable;
}

export interface PullObserver {
  onDecision?(kind: 'manifest' | 'blob', decision: DecisionResult): void;
  onCache?(kind: 'manifest' | 'blob', hit: boolean): void;
}

/**
 * The one orchestrator of a pull: resolve → fetch (single-flight) → decide → audit → serve or deny.
 * Every manifest and blob request is audited before a byte is served.
 */
export class PullService {
  constructor(
    private readonly d: {
      index: CacheIndex;
      store: BlobStore;
      manifests: ManifestFetcher;
      blobs: BlobFetcher;
      decider: Decider;
      audit: AuditLog;
      log: Logger;
      observer?: PullObserver;
      /** Verified tags (`upstreams[].tagDrift`); without it tags simply follow the upstream. */
      tags?: TagStore;
      /** Proves artifacts by content (`pull.maxArtifactSize`); the default bound without it. */
      artifacts?: ArtifactProver;
    },
  ) {
    this.artifacts = d.artifacts ?? new ArtifactProver(d.manifests, DEFAULT_ARTIFACT_BLOB_BYTES);
  }

  private readonly artifacts: ArtifactProver;

  async manifest(
    req: RequestInfo,
    target: Target,
    ref: Reference,
    accept: string | string[] | undefined,
    head = false,
    /** Aborts when the client disconnects: an upstream fetch only it waited for is then abandoned. */
    signal?: AbortSignal,
  ): Promise<ManifestResponse> {
    const base = this.baseEvent(req, target, 'pull.manifest', referenceString(ref));
    await this.admitName(base, target);
    let m: FetchedManifest;
    try {
      m = await this.d.manifests.resolve(target, ref, signal);
    } catch (err) {
      await this.recordFailure(base, err);
      throw err;
    }
    this.d.observer?.onCache?.('manifest', m.cacheHit);
    const tag = ref.kind === 'tag' ? ref.tag : undefined;
    const verdict = await this.artifactVerdict(target, m, tag);
    let decision = await this.decideManifest(target, m, tag, verdict);
    if (tag !== undefined && verdict.kind === 'image' && this.d.tags) ({ m, decision } = await this.judgeTag(base, target, tag, m, decision));
    // Blobs are linked only for a manifest that is served: a denied one (however many layers it lists) writes
    // nothing. An artifact's blobs take the decision of the image it is about, its own blobs that of its digest.
    if (decision.outcome !== 'deny') {
      const about = verdict.kind === 'artifact' ? verdict.subject : undefined;
      await this.d.index.linkBlobs(target.upstream.name, target.repository, about ?? m.digest, referencedBlobs(m.parsed), about !== undefined);
    }
    this.d.observer?.onDecision?.('manifest', decision);
    const event: AuditEventInput = { ...base, digest: m.digest, cacheHit: m.cacheHit, ...decisionFields(decision) };
    if (decision.outcome === 'deny') {
      await this.append({ ...event, status: 403 });
      throw denied(decision);
    }
    if (!acceptsMediaType(accept, m.mediaType)) {
      await this.append({ ...event, status: 404, reasons: [...decision.reasons, `client does not accept ${m.mediaType}`] });
      throw new OciError('MANIFEST_UNKNOWN', `manifest is ${m.mediaType}, which the client's Accept header does not list`);
    }
    await this.append({ ...event, status: 200, bytes: head ? 0 : m.bytes.length });
    return { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes };
  }

  /**
   * Refuses, before anything is asked upstream, a name that a `deny` rule or no rule covers: asking would
   * spend the upstream's rate limit and tell whoever asks which names exist. The refusal is audited.
   */
  async admitName(base: AuditEventInput, target: Target): Promise<void> {
    const refusal = this.d.decider.refuseName(target);
    if (!refusal) return;
    this.d.observer?.onDecision?.(base.kind === 'pull.blob' ? 'blob' : 'manifest', refusal);
    await this.append({ ...base, ...decisionFields(refusal), status: 403 });
    throw denied(refusal);
  }

  async blob(req: RequestInfo, target: Target, digest: Digest, head: boolean, rangeHeader: string | undefined): Promise<BlobResponse> {
    const base: AuditEventInput = { ...this.baseEvent(req, target, 'pull.blob', digest), digest };
    await this.admitName(base, target);
    const links = await this.d.index.blobLinks(target.upstream.name, target.repository, digest);
    if (links.length === 0) {
      await this.append({ ...base, status: 404, reasons: ['no manifest pulled through this proxy references this blob in this repository'] });
      throw new OciError('BLOB_UNKNOWN', `blob ${digest} is not referenced by any manifest pulled through this proxy for ${target.canonical}`);
    }
    // A blob that an ordinary manifest of this repository references is served only under that manifest's
    // decision: an artifact listing an image's layer as its own cannot lend that layer its subject's decision.
    const own = links.filter((l) => !l.viaArtifact);
    let decision: DecisionResult | undefined;
    for (const link of own.length > 0 ? own : links) {
      decision = await this.decideDigest(target, link.manifest);
      if (decision.outcome !== 'deny') break;
    }
    this.d.observer?.onDecision?.('blob', decision!);
    const event: AuditEventInput = { ...base, ...decisionFields(decision!) };
    if (decision!.outcome === 'deny') {
      await this.append({ ...event, status: 403 });
      throw denied(decision!);
    }

    let cachedSize = await this.d.store.size(digest);
    // Small cached blobs (configs, signature layers) are re-hashed on every read: they are stored without
    // fsync, and this is what guarantees a damaged copy is refetched rather than served.
    let small: Buffer | undefined;
    if (cachedSize !== undefined && cachedSize <= SMALL_BLOB_BYTES && !head) {
      small = await this.d.store.readVerified(digest);
      if (!small) cachedSize = undefined;
    }
    const size = cachedSize ?? links[0]!.size;
    const range = parseRange(rangeHeader, size);
    this.d.observer?.onCache?.('blob', cachedSize !== undefined);
    if (range.kind === 'unsatisfiable') {
      await this.append({ ...event, cacheHit: cachedSize !== undefined, status: 416, bytes: 0 });
      return { status: 416, size, digest };
    }
    const span = range.kind === 'range' ? { start: range.start, end: range.end } : undefined;
    const status = span ? 206 : 200;
    const bytes = span ? span.end - span.start + 1 : size;
    if (head) {
      await this.append({ ...event, cacheHit: cachedSize !== undefined, status, bytes: 0 });
      return { status, size, digest, range: span };
    }
    if (cachedSize !== undefined) {
      await this.append({ ...event, cacheHit: true, status, bytes });
      this.d.index.touchBlob(digest, (err) => this.d.log.warn('blob access time not recorded', { digest, error: String(err) }));
      const body = small
        ? Readable.from([span ? small.subarray(span.start, span.end + 1) : small])
        : this.d.store.createReadStream(digest, span);
      return { status, size, digest, range: span, body };
    }
    let body: Readable;
    try {
      const download = await this.d.blobs.fetch(target, digest, links[0]!.size);
      body = download.createReader(span?.start ?? 0, span?.end);
    } catch (err) {
      await this.recordFailure({ ...event, cacheHit: false }, err);
      throw err;
    }
    try {
      await this.append({ ...event, cacheHit: false, status, bytes });
    } catch (err) {
      body.destroy();
      throw err;
    }
    return { status, size, digest, range: span, body };
  }

  /** The decision a pull of `ref` would get now, without serving, linking blobs or writing an audit event. */
  async evaluate(target: Target, ref: Reference): Promise<{ manifest: FetchedManifest; decision: DecisionResult }> {
    // As a pull: a name refused by name is refused before the upstream is asked whether it exists.
    const refusal = this.d.decider.refuseName(target);
    if (refusal) throw denied(refusal);
    const manifest = await this.d.manifests.resolve(target, ref);
    const decision = await this.decideManifest(target, manifest, ref.kind === 'tag' ? ref.tag : undefined);
    return { manifest, decision };
  }

  /** Decision for a manifest digest already known in this repository (used for blobs and referrers). */
  async decideDigest(target: Target, digest: string): Promise<DecisionResult> {
    if (!isDigest(digest)) throw new OciError('DIGEST_INVALID');
    const m = await this.d.manifests.resolve(target, { kind: 'digest', digest });
    return this.decideManifest(target, m, undefined);
  }

  /**
   * A tag that moved upstream since it last passed (`upstreams[].tagDrift`). The move is audited once as
   * `tag.drift` in every mode. `follow` judges the new digest; `keep-verified` serves the last digest that
   * passed when the new one fails (judged again now); `deny` refuses until an admin accepts the new digest.
   */
  private async judgeTag(base: AuditEventInput, target: Target, tag: string, m: FetchedManifest, decision: DecisionResult): Promise<{ m: FetchedManifest; decision: DecisionResult }> {
    const tags = this.d.tags!;
    const up = target.upstream.name;
    const mode = target.upstream.config.tagDrift ?? 'follow';
    const passes = decision.outcome !== 'deny';
    const verified = await tags.verified(up, target.repository, tag);
    if (!verified || verified.digest === m.digest) {
      if (passes && (!verified || verified.seenDigest !== null)) await tags.markVerified(up, target.repository, tag, m.digest, new Date().toISOString());
      return { m, decision };
    }
    const moved = `tag "${tag}" moved upstream from ${verified.digest} (verified ${verified.verifiedAt}${verified.acceptedBy ? `, accepted by ${verified.acceptedBy}` : ''}) to ${m.digest}`;
    const outcome = passes ? `which passes policy "${decision.rule ?? '(none)'}"` : `which fails: ${decision.reasons.join('; ') || 'denied'}`;
    const drift = async (served: string | null, action: string, result: 'allow' | 'deny' | 'warn') => {
      if (!(await tags.noteMoved(up, target.repository, tag, m.digest))) return;
      await this.append({
        ...base, kind: 'tag.drift', digest: m.digest, decision: result, policy: decision.rule, policyVersion: decision.policyVersion, mode,
        reasons: [`${moved}, ${outcome}; ${action}`],
        evidence: { tag, verifiedDigest: verified.digest, newDigest: m.digest, servedDigest: served, tagDrift: mode, newDecision: decision.outcome, newReasons: decision.reasons },
      });
    };
    if (mode === 'deny') {
      const reason = `${moved} after it was verified; refused until an admin accepts ${m.digest} (POST /api/v1/tags/accept)`;
      await drift(null, 'refused until an admin accepts it', 'deny');
      return { m, decision: { ...this.d.decider.deny(target, reason), evidence: { tagDrift: { verifiedDigest: verified.digest, newDigest: m.digest } } } };
    }
    if (mode === 'follow' || passes) {
      await drift(m.digest, 'serving the new digest', decision.outcome);
      if (passes) await tags.markVerified(up, target.repository, tag, m.digest, new Date().toISOString());
      return { m, decision };
    }
    // keep-verified, and the new digest fails: the last verified digest, judged again as a pull of it would be.
    let kept: FetchedManifest;
    try {
      kept = await this.d.manifests.resolve(target, { kind: 'digest', digest: verified.digest as Digest });
    } catch (err) {
      await drift(null, 'the verified digest cannot be fetched', 'deny');
      return { m, decision: this.d.decider.deny(target, `${moved}, ${outcome}; the verified digest cannot be fetched: ${(err as Error).message}`) };
    }
    const keptDecision = await this.decideManifest(target, kept, undefined);
    await drift(kept.digest, `serving the verified digest ${kept.digest}`, keptDecision.outcome === 'deny' ? 'deny' : 'warn');
    return {
      m: kept,
      decision: { ...keptDecision, reasons: [...keptDecision.reasons, `${moved}, ${outcome}; serving the verified digest`], evidence: { ...(keptDecision.evidence ?? {}), tagDrift: { verifiedDigest: verified.digest, newDigest: m.digest } } },
    };
  }

  /**
   * Signature, attestation and SBOM artifacts, proven by their content, take the decision of the image they
   * are about; everything else is judged on its own digest.
   */
  private async decideManifest(target: Target, m: FetchedManifest, tag: string | undefined, known?: ArtifactVerdict): Promise<DecisionResult> {
    const verdict = known ?? (await this.artifactVerdict(target, m, tag));
    if (verdict.kind === 'unproven') return this.d.decider.deny(target, verdict.reason);
    if (verdict.kind === 'artifact') {
      let subject: FetchedManifest;
      try {
        subject = await this.d.manifests.resolve(target, { kind: 'digest', digest: verdict.subject as Digest });
      } catch (err) {
        return this.d.decider.deny(target, `signature artifact for ${verdict.subject}, which cannot be fetched: ${(err as Error).message}`);
      }
      const decision = await this.decide(target, subject);
      return { ...decision, evidence: { ...(decision.evidence ?? {}), artifactFor: verdict.subject } };
    }
    const own = await this.decide(target, m, tag);
    return verdict.disguise && own.outcome === 'deny' ? { ...own, reasons: [...own.reasons, verdict.disguise] } : own;
  }

  /**
   * The image a manifest is about (its OCI subject, or the digest in a cosign tag `sha256-<hex>.sig`), but
   * only when its content proves it cannot run: anyone who can push can set a subject, choose a tag or
   * claim a media type (decide/artifact-proof.ts).
   */
  private artifactVerdict(target: Target, m: FetchedManifest, tag: string | undefined): Promise<ArtifactVerdict> {
    return this.artifacts.judge(target, m, tag, this.source(target));
  }

  private decide(target: Target, m: FetchedManifest, tag?: string): Promise<DecisionResult> {
    const loadParent = async (parent: string) => {
      if (!isDigest(parent)) return undefined;
      const p = await this.d.manifests.cached(target, parent);
      return p && asSubject(p);
    };
    return this.d.decider.decide(target, asSubject(m), this.source(target), loadParent, tag);
  }

  private source(target: Target) {
    return createArtifactSource(target, this.d.manifests, this.d.store, this.d.index);
  }

  baseEvent(req: RequestInfo, target: Target, kind: string, reference: string): AuditEventInput {
    return {
      kind,
      requestId: req.requestId,
      client: req.client,
      user: req.user,
      upstream: target.upstream.name,
      repository: target.canonical,
      reference,
    };
  }

  private async recordFailure(event: AuditEventInput, err: unknown): Promise<void> {
    const status = err instanceof OciError ? err.status : 500;
    await this.append({ ...event, status, reasons: [(err as Error).message ?? String(err)] });
  }

  /** Commits the audit event; a request whose event cannot be committed is not served. */
  private async append(event: AuditEventInput): Promise<void> {
    try {
      await this.d.audit.record(event);
    } catch (err) {
      this.d.log.error('audit append failed', { error: String(err) });
      throw new OciError('UNAVAILABLE', 'the audit log cannot be written; refusing to serve');
    }
  }
}

function asSubject(m: FetchedManifest): SubjectManifest {
  return { digest: m.digest, bytes: m.bytes, parsed: m.parsed };
}

function decisionFields(d: DecisionResult): Partial<AuditEventInput> {
  return {
    decision: d.outcome,
    policy: d.rule,
    policyVersion: d.policyVersion,
    mode: d.mode,
    reasons: d.reasons,
    evidence: d.evidence ?? null,
  };
}

export function denied(d: DecisionResult): OciError {
  const reasons = d.reasons.length > 0 ? d.reasons.join('; ') : 'denied';
  const message = d.rule ? `portcullis: policy "${d.rule}": ${reasons}` : `portcullis: ${reasons}`;
  return new OciError('DENIED', message, { policy: d.rule, reasons: d.reasons });
}
