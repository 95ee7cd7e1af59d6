import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import { digestTag, type Digest } from '../oci/digest.js';
import { isObject, parseManifest, referencedBlobs, type Descriptor } from '../oci/manifest.js';
import { UPSTREAM_ACCEPT } from '../oci/media-types.js';
import { referenceString, type Reference } from '../oci/reference.js';
import type { BlobFetcher } from '../pull/blob-fetcher.js';
import type { ListingService } from '../pull/listing-service.js';
import type { PullService, RequestInfo } from '../pull/pull-service.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Target } from '../upstream/target.js';
import { platformMatches } from './platforms.js';

/** What the walker pulls through: the same orchestrator clients pull through, so every step is judged and audited. */
export interface WalkerServices {
  pull: PullService;
  listing: ListingService;
  blobs: BlobFetcher;
  store: BlobStore;
}

export interface WalkOptions {
  /** The puller the audit events name: `prefetch:<os user>`, or `prefetch:<list>` for a scheduled run. */
  user: string;
  /** `os/arch[/variant]` entries an index's children must match; empty or absent: every child. */
  platforms?: readonly string[];
  /** Also fetch the image's signatures, attestations and other referrers (cosign tags and the referrers API). */
  referrers: boolean;
  /** Bytes found in the image's manifests (grows as they are read), for a progress bar. */
  onTotal?(bytes: number): void;
  /** Bytes fetched or found already cached. */
  onBytes?(bytes: number): void;
}

export type ImageResult = 'cached' | 'refused' | 'failed';

export interface ImageOutcome {
  image: string;
  repository: string;
  reference: string;
  digest: string | null;
  /** `cached`: allowed and now held whole; `refused`: the policy denied it; `failed`: it could not be fetched. */
  result: ImageResult;
  decision: string | null;
  rule: string | null;
  reasons: string[];
  manifests: number;
  blobs: number;
  bytes: number;
  /** Signature, attestation and other artifact manifests fetched with it. */
  artifacts: number;
}

/**
 * Fetches one image whole through the pull orchestrator, as a client pull would but without a client: the
 * manifest is judged under the active policy, then every requested platform's manifest, config and layers,
 * then (optionally) its artifacts, each request audited with `user` as the puller. A refusal stops at the
 * manifest, so nothing of a refused image's content is fetched.
 */
export class ImageWalker {
  constructor(private readonly s: WalkerServices) {}

  async fetchWhole(target: Target, ref: Reference, image: string, opts: WalkOptions): Promise<ImageOutcome> {
    const out: ImageOutcome = {
      image, repository: target.canonical, reference: referenceString(ref), digest: null, result: 'cached',
      decision: null, rule: null, reasons: [], manifests: 0, blobs: 0, bytes: 0, artifacts: 0,
    };
    const walk = new Walk(this.s, target, opts, out);
    try {
      const top = await walk.manifest(ref);
      out.digest = top.digest;
      const decision = await this.s.pull.decideDigest(target, top.digest);
      Object.assign(out, { decision: decision.outcome, rule: decision.rule, reasons: [...decision.reasons] });
      await walk.contents(top);
      if (opts.referrers) await walk.artifacts();
    } catch (err) {
      if (err instanceof OciError && err.code === 'DENIED') {
        const detail = (isObject(err.detail) ? err.detail : {}) as { policy?: string | null; reasons?: string[] };
        Object.assign(out, { result: 'refused', decision: 'deny', rule: detail.policy ?? null, reasons: detail.reasons ?? [err.message] });
      } else {
        Object.assign(out, { result: 'failed', reasons: [...out.reasons, (err as Error).message ?? String(err)] });
      }
    }
    return out;
  }
}

interface Pulled {
  digest: Digest;
  parsed: ReturnType<typeof parseManifest>;
}

/** One image's walk: the request identity it makes every pull under, and what it has seen. */
class Walk {
  private readonly req: RequestInfo;
  /** Manifests whose artifacts are looked for (the image's own, not its artifacts'). */
  private readonly subjects: Digest[] = [];
  private readonly seen = new Set<string>();

  constructor(
    private readonly s: WalkerServices,
    private readonly target: Target,
    private readonly opts: WalkOptions,
    private readonly out: ImageOutcome,
  ) {
    this.req = { requestId: randomUUID(), client: 'local', user: opts.user };
  }

  async manifest(ref: Reference): Promise<Pulled> {
    const res = await this.s.pull.manifest(this.req, this.target, ref, UPSTREAM_ACCEPT);
    this.seen.add(res.digest);
    this.out.manifests++;
    return { digest: res.digest, parsed: parseManifest(res.bytes, res.mediaType) };
  }

  /** An image manifest's blobs, or an index's requested children and theirs. */
  async contents(m: Pulled, artifact = false): Promise<void> {
    if (!artifact) this.subjects.push(m.digest);
    if (!m.parsed.isIndex) {
      const blobs = referencedBlobs(m.parsed);
      this.opts.onTotal?.(blobs.reduce((n, b) => n + b.size, 0));
      for (const blob of blobs) await this.blob(blob);
      return;
    }
    const children = artifact ? m.parsed.manifests : m.parsed.manifests.filter((d) => platformMatches(d, this.opts.platforms));
    if (children.length === 0 && m.parsed.manifests.length > 0) throw new Error(`the index lists no manifest for ${this.opts.platforms?.join(', ')}`);
    for (const child of children) {
      if (this.seen.has(child.digest)) continue;
      await this.contents(await this.manifest({ kind: 'digest', digest: child.digest }), artifact);
    }
  }

  /** Signatures, attestations and other referrers of every manifest of the image, with their blobs. */
  async artifacts(): Promise<void> {
    const tags = await this.tagList();
    for (const subject of this.subjects) {
      const refs: Reference[] = [];
      for (const suffix of ['sig', 'att', 'sbom'] as const) {
        const tag = digestTag(subject, suffix);
        if (tags.has(tag)) refs.push({ kind: 'tag', tag });
      }
      const { bytes } = await this.s.listing.referrers(this.req, this.target, subject, undefined);
      const index = JSON.parse(bytes.toString('utf8')) as { manifests?: Descriptor[] };
      for (const d of index.manifests ?? []) refs.push({ kind: 'digest', digest: d.digest });
      for (const ref of refs) {
        if (ref.kind === 'digest' && this.seen.has(ref.digest)) continue;
        try {
          const m = await this.manifest(ref);
          await this.contents(m, true);
          this.out.artifacts++;
        } catch (err) {
          // Anyone who can push may attach a referrer: one the proxy will not serve does not refuse the image.
          if (!(err instanceof OciError && err.code === 'DENIED')) throw err;
          this.out.reasons.push(`artifact ${referenceString(ref)} is not cached: ${err.message}`);
        }
      }
    }
  }

  /** The repository's tags, to find cosign's `sha256-<hex>.sig` style artifact tags; none when it cannot be listed. */
  private async tagList(): Promise<Set<string>> {
    try {
      const list = await this.s.listing.tags(this.req, this.target, undefined, undefined, this.target.canonical);
      return new Set(list.body.tags);
    } catch {
      return new Set();
    }
  }

  /**
   * A blob already cached is checked with a HEAD (judged and audited, no bytes moved); any other is downloaded
   * through the shared download and confirmed in the store once committed.
   */
  private async blob(d: Descriptor): Promise<void> {
    if (this.seen.has(d.digest)) return;
    this.seen.add(d.digest);
    const held = await this.s.store.size(d.digest);
    if (held !== undefined) {
      await this.s.pull.blob(this.req, this.target, d.digest, true, undefined);
      this.count(held);
    } else {
      const res = await this.s.pull.blob(this.req, this.target, d.digest, false, undefined);
      if (res.body) await this.drain(res.body);
      else this.count(res.size);
      await this.s.blobs.settledDownload(d.digest);
      if ((await this.s.store.size(d.digest)) === undefined) {
        throw new Error(`blob ${d.digest} was fetched but could not be kept in the store (is it full?)`);
      }
    }
    this.out.blobs++;
  }

  private count(bytes: number): void {
    this.out.bytes += bytes;
    this.opts.onBytes?.(bytes);
  }

  private async drain(body: Readable): Promise<void> {
    for await (const chunk of body) this.count((chunk as Buffer).length);
  }
}
