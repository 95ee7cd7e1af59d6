import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestTag, isDigest, sha256, type Digest } from '../../src/oci/digest.js';
import { parseManifest } from '../../src/oci/manifest.js';
import type { ArtifactSource, SubjectManifest } from '../../src/verify/types.js';

interface IndexEntry {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * An ArtifactSource over an OCI image layout on disk (`cosign save` output and the derived vector layouts).
 * Tags come from `org.opencontainers.image.ref.name`, or, for `cosign save` layouts, from the `kind`
 * annotation (`…/sigs` → `sha256-<image>.sig`, `…/atts` → `.att`). With `referrersApi` the source answers
 * the referrers API by scanning manifests for a `subject`; without it, it answers null as an OCI 1.0
 * registry would, so the gatherer must fall back to the `sha256-<hex>` tag.
 */
export class OciLayoutSource implements ArtifactSource {
  readonly entries: IndexEntry[];
  readonly tags = new Map<string, IndexEntry>();
  readonly image: IndexEntry;

  constructor(
    readonly dir: string,
    private readonly opts: { referrersApi: boolean } = { referrersApi: false },
  ) {
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: IndexEntry[] };
    this.entries = index.manifests;
    const image = this.entries.find((e) => /cosign\/image(Index)?$/.test(e.annotations?.kind ?? ''));
    if (!image) throw new Error(`${dir}: no image entry in index.json`);
    this.image = image;
    for (const e of this.entries) {
      const ref = e.annotations?.['org.opencontainers.image.ref.name'];
      if (ref) this.tags.set(ref, e);
      const kind = e.annotations?.kind ?? '';
      if (kind.endsWith('/sigs') && !ref) this.tags.set(digestTag(image.digest, 'sig'), e);
      if (kind.endsWith('/atts') && !ref) this.tags.set(digestTag(image.digest, 'att'), e);
    }
  }

  subject(): SubjectManifest {
    const bytes = this.read(this.image.digest)!;
    return { digest: this.image.digest, bytes, parsed: parseManifest(bytes, this.image.mediaType) };
  }

  async manifest(reference: string) {
    const entry = isDigest(reference) ? undefined : this.tags.get(reference);
    const digest = isDigest(reference) ? reference : entry?.digest;
    if (!digest) return null;
    const bytes = this.read(digest);
    if (!bytes) return null;
    const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
    const mediaType = declared ?? entry?.mediaType ?? this.entries.find((e) => e.digest === digest)?.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    return { bytes, digest, mediaType };
  }

  async blob(digest: Digest, maxBytes: number): Promise<Buffer> {
    const bytes = this.read(digest);
    if (!bytes) throw new Error(`blob ${digest} is not in the layout`);
    if (bytes.length > maxBytes) throw new Error(`blob ${digest} is larger than ${maxBytes} bytes`);
    return bytes;
  }

  async referrers(subject: Digest): Promise<{ bytes: Buffer } | null> {
    if (!this.opts.referrersApi) return null;
    const manifests = [];
    for (const e of this.entries) {
      const bytes = this.read(e.digest);
      if (!bytes) continue;
      const doc = JSON.parse(bytes.toString('utf8'));
      if (doc.subject?.digest !== subject) continue;
      manifests.push({ mediaType: e.mediaType, digest: e.digest, size: e.size, artifactType: doc.artifactType ?? doc.config?.mediaType, annotations: doc.annotations });
    }
    return { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })) };
  }

  private read(digest: Digest): Buffer | undefined {
    const path = join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
    if (!existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    // A layout is a fixture, but a corrupt file must not pass silently.
    if (sha256(bytes) !== digest) throw new Error(`${path} does not match its digest`);
    return bytes;
  }
}
