import { Readable } from 'node:stream';
import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobHandoff, Handoff } from '../store/blob-handoff.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditEventInput } from '../audit/types.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import { referencedBlobs } from '../oci/manifest.js';
import { acceptsMediaType } from '../oci/media-types.js';
import { parseRange } from '../oci/range.js';
import { referenceString, type Reference } from '../oci/reference.js';
import type { DecisionRoom } from '../decide/decision-room.js';
import type { DecisionResult } from '../decide/types.js';
import type { Target } from '../upstream/target.js';
import type { BlobFetcher } from './blob-fetcher.js';
import type { BlobPrefetch } from './blob-prefetch.js';
import type { FetchedManifest, ManifestFetcher } from './manifest-fetcher.js';

/** Blobs up to this size are verified on every read from the cache. */
const SMALL_BLOB_BYTES = 1024 * 1024;

export interface RequestInfo {
  requestId: string;
  client: string;
  user: string | null;
  /** The client asked for the bytes from this process (nginx retrying a handoff whose file was gone). */
  noHandoff?: boolean;
  /** The TCP peer is in `server.trustedProxies`: an nginx in front that can act on X-Accel-Redirect. */
  viaTrustedProxy?: boolean;
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
  /** Absent for HEAD, 416 and a handoff. */
  body?: Readable;
  /** Someone else serves the bytes (nginx, object storage); the decision and audit event are already made. */
  handoff?: Handoff;
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
      /** Where every decision is made. */
      room: DecisionRoom<FetchedManifest>;
      audit: AuditLog;
      log: Logger;
      observer?: PullObserver;
      /** Serves allowed, cached, large blobs off this process when configured. */
      handoff?: BlobHandoff;
      /** Starts the blobs of a served manifest downloading before the client asks (`pull.prefetchBlobs`). */
      prefetch?: BlobPrefetch;
    },
  ) {}

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
    const decided = await this.d.room.decide({ target, manifest: m, tag, recordDrift: (drift) => this.append({ ...base, ...drift }) });
    const decision = decided.decision;
    m = decided.manifest;
    // Blobs are linked only for a manifest that is served: a denied one (however many layers it lists) writes
    // nothing. An artifact's blobs take the decision of the image it is about, its own blobs that of its digest.
    if (decision.outcome !== 'deny') {
      const about = decided.borrowedFrom;
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
    if (!head) this.d.prefetch?.start(target, m.digest, referencedBlobs(m.parsed));
    return { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes };
  }

  /**
   * Refuses, before anything is asked upstream, a name that a `deny` rule or no rule covers: asking would
   * spend the upstream's rate limit and tell whoever asks which names exist. The refusal is audited.
   */
  async admitName(base: AuditEventInput, target: Target): Promise<void> {
    const refusal = this.d.room.refuseName(target);
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
    const decision = await this.d.room.decideBlob(target, links);
    this.d.observer?.onDecision?.('blob', decision);
    const event: AuditEventInput = { ...base, ...decisionFields(decision) };
    if (decision.outcome === 'deny') {
      await this.append({ ...event, status: 403 });
      throw denied(decision);
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
      // Small blobs stay here: they were just re-hashed, which a handoff would skip.
      const handoff = small || req.noHandoff ? undefined : await this.d.handoff?.handoff(digest, size, { viaTrustedProxy: req.viaTrustedProxy === true });
      if (handoff) return { status, size, digest, range: span, handoff };
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
    const refusal = this.d.room.refuseName(target);
    if (refusal) throw denied(refusal);
    const manifest = await this.d.manifests.resolve(target, ref);
    const { decision } = await this.d.room.decide({ target, manifest, tag: ref.kind === 'tag' ? ref.tag : undefined });
    return { manifest, decision };
  }

  /** Decision for a manifest digest already known in this repository (used for referrers). */
  decideDigest(target: Target, digest: string): Promise<DecisionResult> {
    return this.d.room.decideDigest(target, digest);
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
