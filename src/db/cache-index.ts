import type { Db } from './database.js';

export interface ManifestMeta {
  digest: string;
  mediaType: string;
  size: number;
  isIndex: boolean;
  subject: string | null;
}

export interface BlobLink {
  manifest: string;
  size: number;
  viaArtifact: boolean;
}

/** Evidence is gathered in one repository of one upstream, under one set of trust material. */
export interface EvidenceKey {
  upstream: string;
  repository: string;
  digest: string;
  fingerprint: string;
}

/** Prepared statements over what the proxy has cached: tags, manifests, blob links, evidence. */
const KNOWN_LIMIT = 100_000;
const TOUCH_INTERVAL_MS = 60_000;

export class CacheIndex {
  private readonly s;
  /** Facts that only ever become true (a digest is in a repository, a manifest's blobs are linked): remembered. */
  private readonly known = new Set<string>();
  private readonly touched = new Map<string, number>();

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
      link: db.prepare(`INSERT INTO blob_links (upstream, repository, digest, manifest, size, via_artifact) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET via_artifact = min(via_artifact, excluded.via_artifact)`),
      links: db.prepare('SELECT manifest, size, via_artifact FROM blob_links WHERE upstream = ? AND repository = ? AND digest = ?'),
      anyLink: db.prepare('SELECT upstream, repository, manifest FROM blob_links WHERE digest = ? LIMIT 50'),
      putChild: db.prepare(`INSERT INTO manifest_children (upstream, repository, parent, child) VALUES (?, ?, ?, ?)
        ON CONFLICT DO NOTHING`),
      parents: db.prepare('SELECT parent FROM manifest_children WHERE upstream = ? AND repository = ? AND child = ?'),
      putBlob: db.prepare(`INSERT INTO blobs (digest, size, stored_at, last_access) VALUES (?, ?, ?, ?)
        ON CONFLICT (digest) DO UPDATE SET last_access = excluded.last_access`),
      touchBlob: db.prepare('UPDATE blobs SET last_access = ? WHERE digest = ?'),
      getEvidence: db.prepare(`SELECT json, expires_at FROM evidence
        WHERE upstream = ? AND repository = ? AND digest = ? AND fingerprint = ?`),
      putEvidence: db.prepare(`INSERT INTO evidence (upstream, repository, digest, fingerprint, json, expires_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (upstream, repository, digest, fingerprint)
        DO UPDATE SET json = excluded.json, expires_at = excluded.expires_at`),
    };
  }

  getTag(upstream: string, repository: string, tag: string): { digest: string; checkedAt: number } | undefined {
    const r = this.s.getTag.get(upstream, repository, tag) as { digest: string; checked_at: number } | undefined;
    return r && { digest: r.digest, checkedAt: r.checked_at };
  }

  putTag(upstream: string, repository: string, tag: string, digest: string, checkedAt = Date.now()): void {
    this.s.putTag.run(upstream, repository, tag, digest, checkedAt);
  }

  listTags(upstream: string, repository: string): string[] {
    return (this.s.listTags.all(upstream, repository) as { tag: string }[]).map((r) => r.tag);
  }

  getManifest(digest: string): ManifestMeta | undefined {
    const r = this.s.getManifest.get(digest) as
      | { digest: string; media_type: string; size: number; is_index: number; subject: string | null }
      | undefined;
    return r && { digest: r.digest, mediaType: r.media_type, size: r.size, isIndex: r.is_index === 1, subject: r.subject };
  }

  /** Records a manifest as present in a repository (its bytes are already in the store). */
  putManifest(upstream: string, repository: string, meta: ManifestMeta, children: string[]): void {
    this.db.transaction(() => {
      this.s.putManifest.run(meta.digest, meta.mediaType, meta.size, meta.isIndex ? 1 : 0, meta.subject, Date.now());
      this.s.putInRepo.run(upstream, repository, meta.digest);
      for (const child of children) this.s.putChild.run(upstream, repository, meta.digest, child);
    })();
  }

  inRepository(upstream: string, repository: string, digest: string): boolean {
    const key = `r\0${upstream}\0${repository}\0${digest}`;
    if (this.known.has(key)) return true;
    const found = this.s.inRepo.get(upstream, repository, digest) !== undefined;
    if (found) this.remember(key);
    return found;
  }

  private remember(key: string): void {
    if (this.known.size >= KNOWN_LIMIT) this.known.clear();
    this.known.add(key);
  }

  parents(upstream: string, repository: string, child: string): string[] {
    return (this.s.parents.all(upstream, repository, child) as { parent: string }[]).map((r) => r.parent);
  }

  /**
   * Makes a manifest's blobs servable in a repository under the decision of `manifest`. `viaArtifact` marks
   * links from a signature/attestation/SBOM artifact, where `manifest` is the image the artifact is about.
   */
  linkBlobs(upstream: string, repository: string, manifest: string, blobs: { digest: string; size: number }[], viaArtifact = false): void {
    const key = `l\0${upstream}\0${repository}\0${manifest}\0${viaArtifact ? 1 : 0}\0${blobs.map((b) => b.digest).join(',')}`;
    if (blobs.length === 0 || this.known.has(key)) return;
    this.db.transaction(() => {
      for (const b of blobs) this.s.link.run(upstream, repository, b.digest, manifest, b.size, viaArtifact ? 1 : 0);
    })();
    this.remember(key);
  }

  /** The manifests of this repository that reference the blob, with the size they declare. */
  blobLinks(upstream: string, repository: string, digest: string): BlobLink[] {
    const rows = this.s.links.all(upstream, repository, digest) as { manifest: string; size: number; via_artifact: number }[];
    return rows.map((r) => ({ manifest: r.manifest, size: r.size, viaArtifact: r.via_artifact === 1 }));
  }

  linksAnywhere(digest: string): { upstream: string; repository: string; manifest: string }[] {
    return this.s.anyLink.all(digest) as { upstream: string; repository: string; manifest: string }[];
  }

  recordBlob(digest: string, size: number): void {
    const now = Date.now();
    this.s.putBlob.run(digest, size, now, now);
  }

  /** Records a cache hit for eviction; at most once a minute per blob, so hits do not each cost a write. */
  touchBlob(digest: string): void {
    const now = Date.now();
    const last = this.touched.get(digest);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    if (this.touched.size >= KNOWN_LIMIT) this.touched.clear();
    this.touched.set(digest, now);
    this.s.touchBlob.run(now, digest);
  }

  /** Forgets a repository's tags (the next pull revalidates upstream); returns its manifest digests. */
  forgetRepository(upstream: string, repository: string): { tags: number; manifests: string[] } {
    return this.db.transaction(() => {
      const tags = this.db.prepare('DELETE FROM tags WHERE upstream = ? AND repository = ?').run(upstream, repository).changes;
      const manifests = (
        this.db.prepare('SELECT digest FROM repository_manifests WHERE upstream = ? AND repository = ?').all(upstream, repository) as {
          digest: string;
        }[]
      ).map((r) => r.digest);
      return { tags, manifests };
    })();
  }

  /** Drops cached evidence for digests, so they are verified again on their next pull. */
  forgetEvidence(digests: readonly string[]): number {
    const del = this.db.prepare('DELETE FROM evidence WHERE digest = ?');
    return this.db.transaction(() => digests.reduce((n, d) => n + del.run(d).changes, 0))();
  }

  /** Drops a stored file's accounting row (blobs) before its file is removed. */
  forgetContent(digest: string): void {
    this.db.prepare('DELETE FROM blobs WHERE digest = ?').run(digest);
    this.touched.delete(digest);
  }

  getEvidence(key: EvidenceKey): { json: string; expiresAt: number } | undefined {
    const r = this.s.getEvidence.get(key.upstream, key.repository, key.digest, key.fingerprint) as
      | { json: string; expires_at: number }
      | undefined;
    return r && { json: r.json, expiresAt: r.expires_at };
  }

  putEvidence(key: EvidenceKey, json: string, expiresAt: number): void {
    this.s.putEvidence.run(key.upstream, key.repository, key.digest, key.fingerprint, json, expiresAt);
  }
}
