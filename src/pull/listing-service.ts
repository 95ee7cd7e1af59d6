import type { CacheIndex } from '../db/cache-index.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { digestTag, type Digest } from '../oci/digest.js';
import { isObject, type Descriptor } from '../oci/manifest.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import { header, readLimitedBuffer } from '../upstream/upstream-client.js';
import { UpstreamError } from '../upstream/errors.js';
import { createArtifactSource } from './artifact-source.js';
import type { ManifestFetcher } from './manifest-fetcher.js';
import { denied, type PullService, type RequestInfo } from './pull-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { BlobStore } from '../store/blob-store.js';
import { isFallbackWorthy, toClientError } from './upstream-errors.js';
import type { Target } from '../upstream/target.js';

const MAX_TAG_LIST_BYTES = 8 * 1024 * 1024;

export interface TagList {
  body: { name: string; tags: string[] };
  /** Upstream's next-page query (`n`, `last`), when there is one. */
  next?: { n?: string; last: string };
}

/** Tag listing and the referrers API. Neither serves content, but both honour deny rules. */
export class ListingService {
  constructor(
    private readonly d: {
      index: CacheIndex;
      store: BlobStore;
      manifests: ManifestFetcher;
      pull: PullService;
      audit: AuditLog;
      log: Logger;
    },
  ) {}

  async tags(req: RequestInfo, target: Target, n: string | undefined, last: string | undefined, displayName: string): Promise<TagList> {
    await this.d.pull.admitName(this.d.pull.baseEvent(req, target, 'pull.tags', 'tags/list'), target);
    if (n !== undefined && !/^\d{1,6}$/.test(n)) throw new OciError('UNSUPPORTED', 'n must be a non-negative integer');
    const query = new URLSearchParams();
    if (n !== undefined) query.set('n', n);
    if (last !== undefined) query.set('last', last);
    const qs = query.toString();
    try {
      const { repository, upstream } = target;
      const res = await upstream.send('GET', repository, `${repository}/tags/list${qs ? `?${qs}` : ''}`);
      if (res.status === 404) {
        await res.body.dump();
        throw new OciError('NAME_UNKNOWN', `repository ${target.canonical} not found upstream`);
      }
      if (res.status !== 200) {
        await res.body.dump();
        throw new UpstreamError('invalid', `upstream answered ${res.status} for tags`, res.status);
      }
      const parsed = JSON.parse((await readLimitedBuffer(res.body, MAX_TAG_LIST_BYTES)).toString('utf8')) as unknown;
      const all = isObject(parsed) && Array.isArray(parsed.tags) ? parsed.tags.filter((t): t is string => typeof t === 'string') : [];
      // Some upstreams (distribution 2.8) ignore n and last and return tags unsorted: page here, in lexical order.
      const link = header(res.headers, 'link');
      const upstreamHasMore = link !== undefined && /rel="?next"?/.test(link);
      return paginate(all, n, last, upstreamHasMore, displayName);
    } catch (err) {
      if (isFallbackWorthy(err)) {
        // Offline: list the tags this proxy has seen, paginated the same way.
        const tags = await this.d.index.listTags(target.upstream.name, target.repository);
        if (tags.length > 0) return paginate(tags, n, last, false, displayName);
      }
      if (err instanceof SyntaxError) throw new OciError('UPSTREAM_INVALID', 'upstream sent an invalid tag list');
      throw toClientError(err, 'tag list');
    }
  }

  /**
   * The referrers of an allowed subject: upstream API, else the `sha256-<hex>` tag schema, else empty. A
   * subject the upstream does not have has no referrers (200, empty: the spec forbids 404); a denied one is 403.
   */
  async referrers(req: RequestInfo, target: Target, subject: Digest, artifactType: string | undefined): Promise<{ bytes: Buffer; filtered: boolean }> {
    const base = { ...this.d.pull.baseEvent(req, target, 'pull.referrers', subject), digest: subject };
    await this.d.pull.admitName(base, target);
    let manifests: Descriptor[] = [];
    const decision = await this.d.pull.decideDigest(target, subject).catch((err: unknown) => {
      if (err instanceof OciError && err.code === 'MANIFEST_UNKNOWN') return undefined;
      throw err;
    });
    if (!decision) return { bytes: referrersIndex([]), filtered: artifactType !== undefined };
    if (decision.outcome === 'deny') {
      const event = { ...base, decision: 'deny' as const, policy: decision.rule, policyVersion: decision.policyVersion, mode: decision.mode, reasons: decision.reasons, status: 403 };
      await this.d.audit.record(event).catch(() => {
        throw new OciError('UNAVAILABLE', 'the audit log cannot be written; refusing to answer');
      });
      throw denied(decision);
    }
    const source = createArtifactSource(target, this.d.manifests, this.d.store, this.d.index);
    try {
      const fromApi = await source.referrers(subject);
      const index = fromApi ? fromApi.bytes : (await source.manifest(digestTag(subject)))?.bytes;
      if (index) {
        const doc = JSON.parse(index.toString('utf8')) as unknown;
        if (isObject(doc) && Array.isArray(doc.manifests)) manifests = doc.manifests as Descriptor[];
      }
    } catch (err) {
      if (err instanceof SyntaxError) throw new OciError('UPSTREAM_INVALID', 'upstream sent an invalid referrers index');
      throw toClientError(err, `referrers of ${subject}`);
    }
    if (artifactType) manifests = manifests.filter((m) => isObject(m) && m.artifactType === artifactType);
    return { bytes: referrersIndex(manifests), filtered: artifactType !== undefined };
  }
}

function referrersIndex(manifests: Descriptor[]): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }));
}

function paginate(tags: string[], n: string | undefined, last: string | undefined, moreUpstream: boolean, name: string): TagList {
  let sorted = [...new Set(tags)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (last !== undefined) sorted = sorted.filter((t) => t > last);
  const limit = n !== undefined ? Number(n) : sorted.length;
  const page = sorted.slice(0, limit);
  const more = page.length < sorted.length || (moreUpstream && page.length > 0);
  return { body: { name, tags: page }, next: more && page.length > 0 ? { n, last: page[page.length - 1]! } : undefined };
}
