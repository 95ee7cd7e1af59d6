import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pushBlob, pushManifest, type Registry } from '../helpers/registry.js';

interface Entry {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

/**
 * Pushes an OCI image layout (a vector on disk) into a real registry repository, as `cosign save` / `cosign
 * load` would lay it out there: every blob, the image under `tag`, cosign's `.sig`/`.att` manifests under
 * `sha256-<hex>.sig|.att`, tagged entries under their `org.opencontainers.image.ref.name`, other manifests
 * (referrers) by digest. Child manifests go before the indexes that list them, as the registry requires.
 *
 * The vectors carry the signed image manifest but not the image's own config and layer blobs, and
 * distribution refuses a manifest PUT whose blobs it lacks (MANIFEST_BLOB_UNKNOWN). Such a manifest is
 * written into the registry's filesystem storage instead, exactly where a PUT would link it (its bytes are
 * already a blob pushed over the API): the registry then serves it over HTTP like any other.
 * Returns the image digest.
 */
export async function pushLayout(registry: Pick<Registry, 'url' | 'dir'>, dir: string, repo: string, tag: string): Promise<string> {
  const registryUrl = registry.url;
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Entry[] };
  const blobDir = join(dir, 'blobs', 'sha256');
  const read = (digest: string) => readFileSync(join(blobDir, digest.slice('sha256:'.length)));
  for (const name of readdirSync(blobDir)) await pushBlob(registryUrl, repo, readFileSync(join(blobDir, name)));

  const image = index.manifests.find((e) => /cosign\/image(Index)?$/.test(e.annotations?.kind ?? ''));
  if (!image) throw new Error(`${dir}: no image entry in index.json`);
  const pushed = new Set<string>();
  const push = async (entry: Entry, reference: string): Promise<void> => {
    const bytes = read(entry.digest);
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: Entry[] };
    for (const child of doc.manifests ?? []) {
      if (!pushed.has(child.digest) && existsSync(join(blobDir, child.digest.slice('sha256:'.length)))) await push(child, child.digest);
    }
    try {
      await pushManifest(registryUrl, repo, reference, bytes, doc.mediaType ?? entry.mediaType);
    } catch (err) {
      if (!/MANIFEST_BLOB_UNKNOWN/.test((err as Error).message)) throw err;
      await linkManifest(join(registry.dir, 'data'), repo, entry.digest, reference);
    }
    pushed.add(entry.digest);
  };
  const tagOf = (e: Entry): string => {
    const ref = e.annotations?.['org.opencontainers.image.ref.name'];
    const kind = e.annotations?.kind ?? '';
    if (e === image) return tag;
    if (ref) return ref;
    if (kind.endsWith('/sigs')) return `${image.digest.replace(':', '-')}.sig`;
    if (kind.endsWith('/atts')) return `${image.digest.replace(':', '-')}.att`;
    return e.digest;
  };
  const isIndex = (e: Entry) => /index|manifest\.list/.test(e.mediaType);
  // The image first, then artifacts, then indexes of artifacts (the referrers tag schema lists manifests).
  await push(image, tag);
  for (const e of index.manifests.filter((x) => x !== image && !isIndex(x))) await push(e, tagOf(e));
  for (const e of index.manifests.filter((x) => x !== image && isIndex(x))) await push(e, tagOf(e));
  return image.digest;
}

/** distribution's storage layout: a revision link for the manifest, and the tag's current and index links. */
async function linkManifest(root: string, repo: string, digest: string, reference: string): Promise<void> {
  const base = join(root, 'docker', 'registry', 'v2', 'repositories', repo, '_manifests');
  const hex = digest.slice('sha256:'.length);
  const link = async (path: string) => {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'link'), digest);
  };
  await link(join(base, 'revisions', 'sha256', hex));
  if (reference !== digest) {
    await link(join(base, 'tags', reference, 'current'));
    await link(join(base, 'tags', reference, 'index', 'sha256', hex));
  }
}
