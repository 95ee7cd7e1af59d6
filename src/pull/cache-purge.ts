import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { AuditLog } from '../audit/audit-log.js';
import { isDigest } from '../oci/digest.js';
import type { Decider } from './decider.js';
import type { ManifestFetcher } from './manifest-fetcher.js';

export interface PurgeRequest {
  /** Canonical `<upstream>/<repository>`: forget its tags and re-verify its manifests. */
  repository?: string;
  /** Remove this content from the store and re-verify it. */
  digest?: string;
}

export interface PurgeResult {
  tags: number;
  evidence: number;
  files: number;
}

/**
 * An admin's purge of cached content. Authorisation facts (which blobs a repository's manifests referenced)
 * are kept; what goes is what can be fetched or verified again: tags, evidence, files. Every purge is an
 * audit event.
 */
export class CachePurge {
  constructor(
    private readonly d: {
      index: CacheIndex;
      store: BlobStore;
      manifests: ManifestFetcher;
      decider: Decider;
      audit: AuditLog;
      upstreams: ReadonlySet<string>;
    },
  ) {}

  /** Throws RangeError for a request that names nothing valid. */
  async purge(request: PurgeRequest, actor: { user: string; client: string; requestId?: string }): Promise<PurgeResult & { digests: string[] }> {
    if (request.repository === undefined && request.digest === undefined) {
      throw new RangeError('name a repository, a digest, or both');
    }
    const result: PurgeResult = { tags: 0, evidence: 0, files: 0 };
    const digests: string[] = [];
    let upstream: string | undefined;
    if (request.repository !== undefined) {
      const slash = request.repository.indexOf('/');
      upstream = slash > 0 ? request.repository.slice(0, slash) : undefined;
      if (!upstream || !this.d.upstreams.has(upstream)) {
        throw new RangeError('repository must be a canonical name "<upstream>/<repository>" with a configured upstream');
      }
      const { tags, manifests } = await this.d.index.forgetRepository(upstream, request.repository.slice(slash + 1));
      result.tags += tags;
      result.evidence += await this.d.index.forgetEvidence(manifests);
      this.d.decider.forget(manifests);
      digests.push(...manifests);
    }
    if (request.digest !== undefined) {
      if (!isDigest(request.digest)) throw new RangeError('digest must be an algorithm:hex digest');
      result.evidence += await this.d.index.forgetEvidence([request.digest]);
      this.d.decider.forget([request.digest]);
      this.d.manifests.forget(request.digest);
      digests.push(request.digest);
      if ((await this.d.store.size(request.digest)) !== undefined) {
        await this.d.index.forgetContent(request.digest);
        await this.d.store.remove(request.digest);
        result.files++;
      }
    }
    await this.d.audit.append({
      kind: 'cache.purge',
      requestId: actor.requestId ?? null,
      client: actor.client,
      user: actor.user,
      upstream: upstream ?? null,
      repository: request.repository ?? null,
      digest: request.digest ?? null,
      reasons: [`purged ${result.tags} tags, ${result.evidence} evidence records, ${result.files} files`],
      status: 200,
    });
    return { ...result, digests };
  }
}
