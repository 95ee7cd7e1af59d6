import { sql } from 'kysely';
import type { BlobLink, CacheStore, EvidenceDigest, EvidenceKey, ManifestMeta } from '../types.js';
import { query } from '../query/compiled.js';
import type { Dialect } from '../query/dialect.js';
import { run, type Executor, type Steps } from '../query/steps.js';

type Repo = { upstream: string; repository: string };

/** The cache index. Reads and single-row writes are written here once; writes of many rows are the dialect's. */
export class SqlCacheStore implements CacheStore {
  private readonly q;

  constructor(
    private readonly x: Executor,
    private readonly dialect: Dialect,
  ) {
    const qb = x.qb;
    const tags = (a: Repo) => qb.selectFrom('tags').where('upstream', '=', a.upstream).where('repository', '=', a.repository);
    this.q = {
      getTag: query((a: Repo & { tag: string }) => tags(a).select(['digest', 'checked_at']).where('tag', '=', a.tag)),
      putTag: query((a: Repo & { tag: string; digest: string; checkedAt: number }) =>
        qb.insertInto('tags').values({ upstream: a.upstream, repository: a.repository, tag: a.tag, digest: a.digest, checked_at: a.checkedAt })
          .onConflict((oc) => oc.columns(['upstream', 'repository', 'tag'])
            .doUpdateSet((eb) => ({ digest: eb.ref('excluded.digest'), checked_at: eb.ref('excluded.checked_at') })))),
      listTags: query((a: Repo) => tags(a).select('tag').orderBy(this.dialect.bytewise('tag'))),
      getManifest: query((a: { digest: string }) =>
        qb.selectFrom('manifests').select(['digest', 'media_type', 'size', 'is_index', 'subject']).where('digest', '=', a.digest)),
      inRepo: query((a: Repo & { digest: string }) =>
        qb.selectFrom('repository_manifests').select(sql<number>`1`.as('one'))
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('digest', '=', a.digest)),
      links: query((a: Repo & { digest: string }) =>
        qb.selectFrom('blob_links').select(['manifest', 'size', 'via_artifact'])
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('digest', '=', a.digest)),
      anyLink: query((a: { digest: string }) =>
        qb.selectFrom('blob_links').select(['upstream', 'repository', 'manifest']).where('digest', '=', a.digest).limit(sql.lit(50))),
      parents: query((a: Repo & { child: string }) =>
        qb.selectFrom('manifest_children').select('parent')
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('child', '=', a.child)),
      putBlob: query((a: { digest: string; size: number; at: number }) =>
        qb.insertInto('blobs').values({ digest: a.digest, size: a.size, stored_at: a.at, last_access: a.at })
          .onConflict((oc) => oc.column('digest').doUpdateSet((eb) => ({ last_access: eb.ref('excluded.last_access') })))),
      touchBlob: query((a: { digest: string; at: number }) => qb.updateTable('blobs').set({ last_access: a.at }).where('digest', '=', a.digest)),
      deleteBlob: query((a: { digest: string }) => qb.deleteFrom('blobs').where('digest', '=', a.digest)),
      getEvidence: query((a: EvidenceKey) =>
        qb.selectFrom('evidence').select(['json', 'expires_at'])
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('digest', '=', a.digest).where('fingerprint', '=', a.fingerprint)),
      putEvidence: query((a: EvidenceKey & { json: string; expiresAt: number }) =>
        qb.insertInto('evidence')
          .values({ upstream: a.upstream, repository: a.repository, digest: a.digest, fingerprint: a.fingerprint, json: a.json, expires_at: a.expiresAt, vulnerabilities_indexed: sql.lit(1) })
          .onConflict((oc) => oc.columns(['upstream', 'repository', 'digest', 'fingerprint'])
            .doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), expires_at: eb.ref('excluded.expires_at'), vulnerabilities_indexed: sql.lit(1) })))),
      deleteVulnerabilities: query((a: EvidenceKey) =>
        qb.deleteFrom('evidence_vulnerabilities')
          .where('digest', '=', a.digest).where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('fingerprint', '=', a.fingerprint)),
      // Claims a row stored before its ids were indexed; nothing when it was indexed (or rewritten) meanwhile.
      claimUnindexed: query((a: EvidenceKey) =>
        qb.updateTable('evidence').set({ vulnerabilities_indexed: sql.lit(1) })
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('digest', '=', a.digest).where('fingerprint', '=', a.fingerprint)
          .where('vulnerabilities_indexed', '=', sql.lit(0))),
      unindexed: query((a: { limit: number }) =>
        qb.selectFrom('evidence').select(['upstream', 'repository', 'digest', 'fingerprint', 'json'])
          .where('vulnerabilities_indexed', '=', sql.lit(0)).limit(a.limit)),
      listing: query((a: { vulnerability: string; upstream: string; repository: string; digest: string; limit: number }) =>
        qb.selectFrom('evidence_vulnerabilities').select(['upstream', 'repository', 'digest']).distinct()
          .where('vulnerability', '=', a.vulnerability)
          .where((eb) => eb(eb.refTuple('upstream', 'repository', 'digest'), '>', eb.tuple(a.upstream, a.repository, a.digest)))
          .orderBy('upstream').orderBy('repository').orderBy('digest').limit(a.limit)),
      latestEvidence: query((a: Repo & { digest: string; fingerprint: string }) =>
        qb.selectFrom('evidence').select('json')
          .where('upstream', '=', a.upstream).where('repository', '=', a.repository).where('digest', '=', a.digest)
          .orderBy(sql`(fingerprint = ${a.fingerprint})`, 'desc').orderBy('expires_at', 'desc').limit(sql.lit(1))),
      total: query(() => qb.selectFrom('blobs').select(sql<number>`CAST(COALESCE(SUM(size), 0) AS BIGINT)`.as('total'))),
      candidates: query((a: { before: number; since: string; limit: number }) =>
        qb.selectFrom('blobs').select(['digest', 'size'])
          .where('last_access', '<', a.before)
          .where('digest', 'not in', qb.selectFrom('blob_links as bl').select('bl.digest').where('bl.manifest', 'in',
            qb.selectFrom('audit_events').select('digest')
              .where('kind', '=', sql.lit('pull.manifest')).where('status', '=', sql.lit(200)).where('digest', 'is not', null).where('time', '>=', a.since)))
          .orderBy('last_access', 'asc').limit(a.limit)),
      removeIdle: query((a: { digest: string; before: number }) =>
        qb.deleteFrom('blobs').where('digest', '=', a.digest).where('last_access', '<', a.before)),
    };
  }

  async getTag(upstream: string, repository: string, tag: string) {
    const r = await this.x.get(this.q.getTag, { upstream, repository, tag });
    return r && { digest: r.digest, checkedAt: r.checked_at };
  }

  async putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt: number) {
    await this.x.run(this.q.putTag, { upstream, repository, tag, digest, checkedAt });
  }

  async listTags(upstream: string, repository: string) {
    return (await this.x.all(this.q.listTags, { upstream, repository })).map((r) => r.tag);
  }

  async getManifest(digest: string): Promise<ManifestMeta | undefined> {
    const r = await this.x.get(this.q.getManifest, { digest });
    return r && { digest: r.digest, mediaType: r.media_type, size: r.size, isIndex: r.is_index === 1, subject: r.subject };
  }

  putManifest(upstream: string, repository: string, meta: ManifestMeta, children: readonly string[], storedAt: number) {
    return this.dialect.putManifest(upstream, repository, meta, children, storedAt);
  }

  async inRepository(upstream: string, repository: string, digest: string) {
    return (await this.x.get(this.q.inRepo, { upstream, repository, digest })) !== undefined;
  }

  async parents(upstream: string, repository: string, child: string) {
    return (await this.x.all(this.q.parents, { upstream, repository, child })).map((r) => r.parent);
  }

  linkBlobs(upstream: string, repository: string, manifest: string, blobs: readonly { digest: string; size: number }[], viaArtifact: boolean, at: number) {
    return this.dialect.linkBlobs({ upstream, repository, manifest, blobs, viaArtifact, at });
  }

  sweepLinks(before: number, limit: number) {
    return this.dialect.sweepLinks(before, limit);
  }

  async blobLinks(upstream: string, repository: string, digest: string): Promise<BlobLink[]> {
    const rows = await this.x.all(this.q.links, { upstream, repository, digest });
    return rows.map((r) => ({ manifest: r.manifest, size: r.size, viaArtifact: r.via_artifact === 1 }));
  }

  async linksAnywhere(digest: string) {
    return this.x.all(this.q.anyLink, { digest });
  }

  async recordBlob(digest: string, size: number, at: number) {
    await this.x.run(this.q.putBlob, { digest, size, at });
  }

  async touchBlob(digest: string, at: number) {
    await this.x.run(this.q.touchBlob, { digest, at });
  }

  forgetRepository(upstream: string, repository: string) {
    return this.dialect.forgetRepository(upstream, repository);
  }

  forgetEvidence(digests: readonly string[]) {
    return this.dialect.forgetEvidence(digests);
  }

  async forgetContent(digest: string) {
    await this.x.run(this.q.deleteBlob, { digest });
  }

  async getEvidence(key: EvidenceKey) {
    const r = await this.x.get(this.q.getEvidence, key);
    return r && { json: r.json, expiresAt: r.expires_at };
  }

  putEvidence(key: EvidenceKey, json: string, expiresAt: number, vulnerabilities: readonly string[] = []) {
    const { q } = this;
    // Called within the steps: a transaction retried (a busy SQLite file) runs them afresh.
    const replaceIds = () => this.replaceVulnerabilities(key, vulnerabilities);
    return this.x.transaction(function* () {
      yield* run(q.putEvidence, { ...key, json, expiresAt });
      yield* replaceIds();
    });
  }

  evidenceListing(vulnerability: string, after: EvidenceDigest, limit: number): Promise<EvidenceDigest[]> {
    return Promise.resolve(this.x.all(this.q.listing, { vulnerability, ...after, limit }));
  }

  async unindexedEvidence(limit: number) {
    return this.x.all(this.q.unindexed, { limit });
  }

  indexEvidence(key: EvidenceKey, vulnerabilities: readonly string[]) {
    const { q } = this;
    // Called within the steps: a transaction retried (a busy SQLite file) runs them afresh.
    const replaceIds = () => this.replaceVulnerabilities(key, vulnerabilities);
    return this.x.transaction(function* () {
      if ((yield* run(q.claimUnindexed, key)) === 0) return false;
      yield* replaceIds();
      return true;
    });
  }

  /** Inside a transaction: the evidence row's vulnerability ids become `vulnerabilities`. */
  private *replaceVulnerabilities(key: EvidenceKey, vulnerabilities: readonly string[]): Steps<void> {
    yield* run(this.q.deleteVulnerabilities, key);
    yield* this.dialect.insertVulnerabilities(key, vulnerabilities);
  }

  async latestEvidence(upstream: string, repository: string, digest: string, fingerprint: string) {
    return (await this.x.get(this.q.latestEvidence, { upstream, repository, digest, fingerprint }))?.json;
  }

  async totalBlobBytes() {
    return (await this.x.get(this.q.total, {}))!.total;
  }

  async evictionCandidates(before: number, since: string, limit: number) {
    return this.x.all(this.q.candidates, { before, since, limit });
  }

  async removeIdleBlob(digest: string, before: number) {
    return (await this.x.run(this.q.removeIdle, { digest, before })) > 0;
  }
}
