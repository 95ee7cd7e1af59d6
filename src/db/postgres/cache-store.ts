import type pg from 'pg';
import type { BlobLink, CacheStore, EvidenceKey, ManifestMeta } from '../types.js';
import { statement } from './statement.js';

const s = {
  getTag: statement<{ digest: string; checked_at: number }>('get_tag',
    'SELECT digest, checked_at FROM tags WHERE upstream = $1 AND repository = $2 AND tag = $3'),
  putTag: statement('put_tag', `INSERT INTO tags (upstream, repository, tag, digest, checked_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (upstream, repository, tag) DO UPDATE SET digest = excluded.digest, checked_at = excluded.checked_at`),
  listTags: statement<{ tag: string }>('list_tags', 'SELECT tag FROM tags WHERE upstream = $1 AND repository = $2 ORDER BY tag COLLATE "C"'),
  getManifest: statement<{ digest: string; media_type: string; size: number; is_index: number; subject: string | null }>('get_manifest',
    'SELECT digest, media_type, size, is_index, subject FROM manifests WHERE digest = $1'),
  // One statement: the manifest, its presence in the repository and its children commit together.
  putManifest: statement('put_manifest', `WITH m AS (
      INSERT INTO manifests (digest, media_type, size, is_index, subject, stored_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (digest) DO NOTHING),
    r AS (INSERT INTO repository_manifests (upstream, repository, digest) VALUES ($7, $8, $1) ON CONFLICT DO NOTHING)
    INSERT INTO manifest_children (upstream, repository, parent, child)
    SELECT $7, $8, $1, c FROM unnest($9::text[]) AS c ON CONFLICT DO NOTHING`),
  inRepo: statement('in_repo', 'SELECT 1 FROM repository_manifests WHERE upstream = $1 AND repository = $2 AND digest = $3'),
  link: statement('link_blobs', `INSERT INTO blob_links (upstream, repository, digest, manifest, size, via_artifact, linked_at)
    SELECT $1, $2, d, $3, z, $6, $7 FROM unnest($4::text[], $5::bigint[]) AS b(d, z)
    ON CONFLICT (upstream, repository, digest, manifest) DO UPDATE SET via_artifact = LEAST(blob_links.via_artifact, excluded.via_artifact),
      linked_at = GREATEST(blob_links.linked_at, excluded.linked_at)`),
  sweepLinks: statement('sweep_links', 'DELETE FROM blob_links WHERE ctid IN (SELECT ctid FROM blob_links WHERE linked_at < $1 LIMIT $2)'),
  links: statement<{ manifest: string; size: number; via_artifact: number }>('blob_links',
    'SELECT manifest, size, via_artifact FROM blob_links WHERE upstream = $1 AND repository = $2 AND digest = $3'),
  anyLink: statement<{ upstream: string; repository: string; manifest: string }>('any_link',
    'SELECT upstream, repository, manifest FROM blob_links WHERE digest = $1 LIMIT 50'),
  parents: statement<{ parent: string }>('parents', 'SELECT parent FROM manifest_children WHERE upstream = $1 AND repository = $2 AND child = $3'),
  putBlob: statement('put_blob', `INSERT INTO blobs (digest, size, stored_at, last_access) VALUES ($1, $2, $3, $3)
    ON CONFLICT (digest) DO UPDATE SET last_access = excluded.last_access`),
  touchBlob: statement('touch_blob', 'UPDATE blobs SET last_access = $1 WHERE digest = $2'),
  forgetRepository: statement<{ tags: number; manifests: string[] }>('forget_repository', `WITH d AS (
      DELETE FROM tags WHERE upstream = $1 AND repository = $2 RETURNING 1)
    SELECT (SELECT count(*) FROM d) AS tags,
      ARRAY(SELECT digest FROM repository_manifests WHERE upstream = $1 AND repository = $2) AS manifests`),
  forgetEvidence: statement('forget_evidence', 'DELETE FROM evidence WHERE digest = ANY($1::text[])'),
  deleteBlob: statement('delete_blob', 'DELETE FROM blobs WHERE digest = $1'),
  getEvidence: statement<{ json: string; expires_at: number }>('get_evidence', `SELECT json, expires_at FROM evidence
    WHERE upstream = $1 AND repository = $2 AND digest = $3 AND fingerprint = $4`),
  putEvidence: statement('put_evidence', `INSERT INTO evidence (upstream, repository, digest, fingerprint, json, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (upstream, repository, digest, fingerprint)
    DO UPDATE SET json = excluded.json, expires_at = excluded.expires_at`),
  latestEvidence: statement<{ json: string }>('latest_evidence', `SELECT json FROM evidence WHERE upstream = $1 AND repository = $2 AND digest = $3
    ORDER BY (fingerprint = $4) DESC, expires_at DESC LIMIT 1`),
  total: statement<{ total: number }>('total_blob_bytes', 'SELECT COALESCE(SUM(size), 0)::bigint AS total FROM blobs'),
  candidates: statement<{ digest: string; size: number }>('eviction_candidates', `SELECT digest, size FROM blobs
    WHERE last_access < $1
      AND digest NOT IN (
        SELECT bl.digest FROM blob_links bl WHERE bl.manifest IN (
          SELECT digest FROM audit_events
          WHERE kind = 'pull.manifest' AND status = 200 AND digest IS NOT NULL AND time >= $2))
    ORDER BY last_access ASC LIMIT $3`),
  removeIdle: statement('remove_idle_blob', 'DELETE FROM blobs WHERE digest = $1 AND last_access < $2'),
};

/** The cache index in PostgreSQL; every method is one statement (one round trip), transactional on its own. */
export class PostgresCacheStore implements CacheStore {
  constructor(private readonly pool: pg.Pool) {}

  async getTag(upstream: string, repository: string, tag: string) {
    const r = (await s.getTag(this.pool, [upstream, repository, tag])).rows[0];
    return r && { digest: r.digest, checkedAt: r.checked_at };
  }

  async putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt: number) {
    await s.putTag(this.pool, [upstream, repository, tag, digest, checkedAt]);
  }

  async listTags(upstream: string, repository: string) {
    return (await s.listTags(this.pool, [upstream, repository])).rows.map((r) => r.tag);
  }

  async getManifest(digest: string): Promise<ManifestMeta | undefined> {
    const r = (await s.getManifest(this.pool, [digest])).rows[0];
    return r && { digest: r.digest, mediaType: r.media_type, size: r.size, isIndex: r.is_index === 1, subject: r.subject };
  }

  async putManifest(upstream: string, repository: string, meta: ManifestMeta, children: readonly string[], storedAt: number) {
    await s.putManifest(this.pool, [meta.digest, meta.mediaType, meta.size, meta.isIndex ? 1 : 0, meta.subject, storedAt, upstream, repository, children]);
  }

  async inRepository(upstream: string, repository: string, digest: string) {
    return (await s.inRepo(this.pool, [upstream, repository, digest])).rowCount! > 0;
  }

  async parents(upstream: string, repository: string, child: string) {
    return (await s.parents(this.pool, [upstream, repository, child])).rows.map((r) => r.parent);
  }

  async linkBlobs(upstream: string, repository: string, manifest: string, blobs: readonly { digest: string; size: number }[], viaArtifact: boolean, at: number) {
    // A manifest may list one blob twice; one statement may not update a row twice.
    const unique = [...new Map(blobs.map((b) => [b.digest, b.size])).entries()];
    await s.link(this.pool, [upstream, repository, manifest, unique.map(([d]) => d), unique.map(([, z]) => z), viaArtifact ? 1 : 0, at]);
  }

  async sweepLinks(before: number, limit: number) {
    return (await s.sweepLinks(this.pool, [before, limit])).rowCount ?? 0;
  }

  async blobLinks(upstream: string, repository: string, digest: string): Promise<BlobLink[]> {
    const rows = (await s.links(this.pool, [upstream, repository, digest])).rows;
    return rows.map((r) => ({ manifest: r.manifest, size: r.size, viaArtifact: r.via_artifact === 1 }));
  }

  async linksAnywhere(digest: string) {
    return (await s.anyLink(this.pool, [digest])).rows;
  }

  async recordBlob(digest: string, size: number, at: number) {
    await s.putBlob(this.pool, [digest, size, at]);
  }

  async touchBlob(digest: string, at: number) {
    await s.touchBlob(this.pool, [at, digest]);
  }

  async forgetRepository(upstream: string, repository: string) {
    return (await s.forgetRepository(this.pool, [upstream, repository])).rows[0]!;
  }

  async forgetEvidence(digests: readonly string[]) {
    return (await s.forgetEvidence(this.pool, [digests])).rowCount ?? 0;
  }

  async forgetContent(digest: string) {
    await s.deleteBlob(this.pool, [digest]);
  }

  async getEvidence(key: EvidenceKey) {
    const r = (await s.getEvidence(this.pool, [key.upstream, key.repository, key.digest, key.fingerprint])).rows[0];
    return r && { json: r.json, expiresAt: r.expires_at };
  }

  async putEvidence(key: EvidenceKey, json: string, expiresAt: number) {
    await s.putEvidence(this.pool, [key.upstream, key.repository, key.digest, key.fingerprint, json, expiresAt]);
  }

  async latestEvidence(upstream: string, repository: string, digest: string, fingerprint: string) {
    return (await s.latestEvidence(this.pool, [upstream, repository, digest, fingerprint])).rows[0]?.json;
  }

  async totalBlobBytes() {
    return (await s.total(this.pool)).rows[0]!.total;
  }

  async evictionCandidates(before: number, since: string, limit: number) {
    return (await s.candidates(this.pool, [before, since, limit])).rows;
  }

  async removeIdleBlob(digest: string, before: number) {
    return ((await s.removeIdle(this.pool, [digest, before])).rowCount ?? 0) > 0;
  }
}
