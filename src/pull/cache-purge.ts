import type { CacheIndex } from '../db/cache-index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { AuditLog } from '../audit/audit-log.js';
import { isDigest, type Digest } from '../oci/digest.js';
import { isRepositoryName } from '../oci/reference.js';
import type { DecisionRoom } from '../decide/decision-room.js';
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
      /** Forgets remembered evidence of purged digests. */
      room: Pick<DecisionRoom<never>, 'forget'>;
      audit: AuditLog;
      upstreams: ReadonlySet<string>;
    },
  ) {}

  /** What is wrong with a request, field by field (nothing when it can be carried out). */
  problems(request: PurgeRequest): { path: string; message: string }[] {
    if (request.repository === undefined && request.digest === undefined) return [{ path: '', message: 'name a repository, a digest, or both' }];
    const problems: { path: string; message: string }[] = [];
    if (request.repository !== undefined) {
      const slash = request.repository.indexOf('/');
      const upstream = slash > 0 ? request.repository.slice(0, slash) : '';
      if (!this.d.upstreams.has(upstream) || !isRepositoryName(request.repository.slice(slash + 1))) {
        problems.push({ path: 'repository', message: 'must be a canonical name "<upstream>/<repository>" with a configured upstream and a valid repository name' });
      }
    }
    if (request.digest !== undefined && !isDigest(request.digest)) problems.push({ path: 'digest', message: 'must be an algorithm:hex digest' });
    return problems;
  }

  /** Throws RangeError for a request that names nothing valid (see `problems`); such a request is not audited. */
  async purge(request: PurgeRequest, actor: { user: string; client: string; requestId?: string }): Promise<PurgeResult & { digests: string[] }> {
    const problems = this.problems(request);
    if (problems.length > 0) throw new RangeError(problems.map((p) => (p.path ? `${p.path} ${p.message}` : p.message)).join('; '));
    const result: PurgeResult = { tags: 0, evidence: 0, files: 0 };
    const digests: string[] = [];
    let upstream: string | undefined;
    if (request.repository !== undefined) {
      const slash = request.repository.indexOf('/');
      upstream = request.repository.slice(0, slash);
      const { tags, manifests } = await this.d.index.forgetRepository(upstream, request.repository.slice(slash + 1));
      result.tags += tags;
      result.evidence += await this.d.index.forgetEvidence(manifests);
      this.d.room.forget(manifests);
      digests.push(...manifests);
    }
    const digest = request.digest as Digest | undefined; // checked by problems()
    if (digest !== undefined) {
      result.evidence += await this.d.index.forgetEvidence([digest]);
      this.d.room.forget([digest]);
      this.d.manifests.forget(digest);
      digests.push(digest);
      if ((await this.d.store.size(digest)) !== undefined) {
        await this.d.index.forgetContent(digest);
        await this.d.store.remove(digest);
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
