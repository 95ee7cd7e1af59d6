import type { Db } from './connection.js';
import type { BlobLink, CacheStore, EvidenceKey, ManifestMeta } from '../types.js';

/** The cache index in SQLite: statements prepared once, run synchronously, answered as resolved promises. */
export class SqliteCacheStore implements CacheStore {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      getTag: db.prepare('SELECT digest, checked_at FROM tags WHERE upstream = ? AND repository = ? AND tag = ?'),
      putTag: db.prepare(`INSERT INTO tags (upstream, repository, tag, digest, checked_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (upstream, repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at`),
      listTags: db.prepare('SELECT tag FROM tags WHERE upstream = ? AND repository = ? ORDER BY tag'),
      getManifest: db.prepare('SELECT digest, media_type, size, is_index, subject FROM manifests WHERE digest = ?'),
      putManifest: db.prepare(`INSERT INTO manifests (digest, media_type, size, is_index, subject, stored_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING`),
      inRepo: db.prepare('SELECT 1 FROM repository_manifests WHERE upstream = ? AND repository = ? AND digest = ?'),
      putInRepo: db.prepare(`INSERT INTO repository_manifests (upstream, repository, digest) VALUES (?, ?, ?)
        ON CONFLICT DO NOTHING`),
      link: db.prepare(`INSERT INTO blob_links (upstream, repository, digest, manifest, size, via_artifact, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET via_artifact = min(via_artifact, excluded.via_artifact), linked_at = max(linked_at, excluded.linked_at)`),
      sweepLinks: db.prepare('DELETE FROM blob_links WHERE rowid IN (SELECT rowid FROM blob_links WHERE linked_at < ? LIMIT ?)'),
      links: db.prepare('SELECT manifest, size, via_artifact FROM blob_links WHERE upstream = ? AND repository = ? AND digest = ?'),
      anyLink: db.prepare('SELECT upstream, repository, manifest FROM blob_links WHERE digest = ? LIMIT 50'),
      putChild: db.prepare(`INSERT INTO manifest_children (upstream, repository, parent, child) VALUES (?, ?, ?, ?)
        ON CONFLICT DO NOTHING`),
      parents: db.prepare('SELECT parent FROM manifest_children WHERE upstream = ? AND repository = ? AND child = ?'),
      putBlob: db.prepare(`INSERT INTO blobs (digest, size, stored_at, last_access) VALUES (?, ?, ?, ?)
        ON CONFLICT (digest) DO UPDATE SET last_access = excluded.last_access`),
      touchBlob: db.prepare('UPDATE blobs SET last_access = ? WHERE digest = ?'),
      deleteTags: db.prepare('DELETE FROM tags WHERE upstream = ? AND repository = ?'),
      repoManifests: db.prepare('SELECT digest FROM repository_manifests WHERE upstream = ? AND repository = ?').pluck(),
      deleteEvidence: db.prepare('DELETE FROM evidence WHERE digest = ?'),
      deleteBlob: db.prepare('DELETE FROM blobs WHERE digest = ?'),
      getEvidence: db.prepare(`SELECT json, expires_at FROM evidence
        WHERE upstream = ? AND repository = ? AND digest = ? AND fingerprint = ?`),
      putEvidence: db.prepare(`INSERT INTO evidence (upstream, repository, digest, fingerprint, json, expires_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (upstream, repository, digest, fingerprint)
        DO UPDATE SET json = excluded.json, expires_at = excluded.expires_at`),
      latestEvidence: db.prepare(`SELECT json FROM evidence WHERE upstream = ? AND repository = ? AND digest = ?
        ORDER BY (fingerprint = ?) DESC, expires_at DESC LIMIT 1`).pluck(),
      total: db.prepare('SELECT COALESCE(SUM(size), 0) FROM blobs').pluck(),
      candidates: db.prepare(`SELECT digest, size FROM blobs
        WHERE last_access < @before
          AND digest NOT IN (
            SELECT bl.digest FROM blob_links bl WHERE bl.manifest IN (
              SELECT digest FROM audit_events
              WHERE kind = 'pull.manifest' AND status = 200 AND digest IS NOT NULL AND time >= @since))
        ORDER BY last_access ASC LIMIT @limit`),
      removeIdle: db.prepare('DELETE FROM blobs WHERE digest = ? AND last_access < ?'),
    };
  }

  async getTag(upstream: string, repository: string, tag: string) {
    const r = this.s.getTag.get(upstream, repository, tag) as { digest: string; checked_at: number } | undefined;
    return r && { digest: r.digest, checkedAt: r.checked_at };
  }

  async putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt: number) {
    this.s.putTag.run(upstream, repository, tag, digest, checkedAt);
  }

  async listTags(upstream: string, repository: string) {
    return (this.s.listTags.all(upstream, repository) as { tag: string }[]).map((r) => r.tag);
  }

  async getManifest(digest: string): Promise<ManifestMeta | undefined> {
    const r = this.s.getManifest.get(digest) as
      | { digest: string; media_type: string; size: number; is_index: number; subject: string | null }
      | undefined;
    return r && { digest: r.digest, mediaType: r.media_type, size: r.size, isIndex: r.is_index === 1, subject: r.subject };
  }

  async putManifest(upstream: string, repository: string, meta: ManifestMeta, children: readonly string[], storedAt: number) {
    this.db.transaction(() => {
      this.s.putManifest.run(meta.digest, meta.mediaType, meta.size, meta.isIndex ? 1 : 0, meta.subject, storedAt);
      this.s.putInRepo.run(upstream, repository, meta.digest);
      for (const child of children) this.s.putChild.run(upstream, repository, meta.digest, child);
    })();
  }

  async inRepository(upstream: string, repository: string, digest: string) {
    return this.s.inRepo.get(upstream, repository, digest) !== undefined;
  }

  async parents(upstream: string, repository: string, child: string) {
    return (this.s.parents.all(upstream, repository, child) as { parent: string }[]).map((r) => r.parent);
  }

  async linkBlobs(upstream: string, repository: string, manifest: string, blobs: readonly { digest: string; size: number }[], viaArtifact: boolean, at: number) {
    this.db.transaction(() => {
      for (const b of blobs) this.s.link.run(upstream, repository, b.digest, manifest, b.size, viaArtifact ? 1 : 0, at);
    })();
  }

  async sweepLinks(before: number, limit: number) {
    return this.s.sweepLinks.run(before, limit).changes;
  }

  async blobLinks(upstream: string, repository: string, digest: string): Promise<BlobLink[]> {
    const rows = this.s.links.all(upstream, repository, digest) as { manifest: string; size: number; via_artifact: number }[];
    return rows.map((r) => ({ manifest: r.manifest, size: r.size, viaArtifact: r.via_artifact === 1 }));
  }

  async linksAnywhere(digest: string) {
    return this.s.anyLink.all(digest) as { upstream: string; repository: string; manifest: string }[];
  }

  async recordBlob(digest: string, size: number, at: number) {
    this.s.putBlob.run(digest, size, at, at);
  }

  async touchBlob(digest: string, at: number) {
    this.s.touchBlob.run(at, digest);
  }

  async forgetRepository(upstream: string, repository: string) {
    return this.db.transaction(() => {
      const tags = this.s.deleteTags.run(upstream, repository).changes;
      const manifests = this.s.repoManifests.all(upstream, repository) as string[];
      return { tags, manifests };
    })();
  }

  async forgetEvidence(digests: readonly string[]) {
    return this.db.transaction(() => digests.reduce((n, d) => n + this.s.deleteEvidence.run(d).changes, 0))();
  }

  async forgetContent(digest: string) {
    this.s.deleteBlob.run(digest);
  }

  async getEvidence(key: EvidenceKey) {
    const r = this.s.getEvidence.get(key.upstream, key.repository, key.digest, key.fingerprint) as
      | { json: string; expires_at: number }
      | undefined;
    return r && { json: r.json, expiresAt: r.expires_at };
  }

  async putEvidence(key: EvidenceKey, json: string, expiresAt: number) {
    this.s.putEvidence.run(key.upstream, key.repository, key.digest, key.fingerprint, json, expiresAt);
  }

  async latestEvidence(upstream: string, repository: string, digest: string, fingerprint: string) {
    return this.s.latestEvidence.get(upstream, repository, digest, fingerprint) as string | undefined;
  }

  async totalBlobBytes() {
    return this.s.total.get() as number;
  }

  async evictionCandidates(before: number, since: string, limit: number) {
    return this.s.candidates.all({ before, since, limit }) as { digest: string; size: number }[];
  }

  async removeIdleBlob(digest: string, before: number) {
    return this.s.removeIdle.run(digest, before).changes > 0;
  }
}
