import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDigest } from '../oci/digest.js';
import { isObject } from '../oci/manifest.js';
import type { ExtractedLayout } from './archive-reader.js';
import { REF_NAME, REPOSITORY_ANNOTATION, type LayoutDescriptor } from './layout.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A name in the archive: `upstream/repository` and a tag or a digest. */
export interface ArchiveName {
  upstream: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** `upstream.example/acme/app:1` or `…@sha256:…` → its parts; undefined for a name that is neither. */
export function splitArchiveName(name: string): ArchiveName | undefined {
  const at = name.indexOf('@');
  let path = name;
  let tag: string | undefined;
  let digest: string | undefined;
  if (at >= 0) {
    digest = name.slice(at + 1);
    path = name.slice(0, at);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon <= name.lastIndexOf('/')) return undefined;
    tag = name.slice(colon + 1);
    path = name.slice(0, colon);
  }
  const slash = path.indexOf('/');
  if (slash <= 0) return undefined;
  return { upstream: path.slice(0, slash), repository: path.slice(slash + 1), tag, digest };
}

/**
 * Serves the archive to this instance's own pull path as a read-only registry for one upstream name: the
 * manifests, tags and blobs it holds and a referrers API built from the manifests that name a subject. The
 * importing instance then fetches, checks, judges and caches each image exactly as it would from its upstream.
 * Listens on loopback only, for the length of the import.
 */
export async function startArchiveRegistry(layout: ExtractedLayout, upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const tags = new Map<string, string>();
  const referrers = new Map<string, LayoutDescriptor[]>();
  for (const entry of layout.manifests) {
    const named = entry.annotations?.[REF_NAME];
    const parts = named ? splitArchiveName(named) : undefined;
    if (parts?.upstream === upstream && parts.tag) tags.set(`${parts.repository}:${parts.tag}`, entry.digest);
    const home = entry.annotations?.[REPOSITORY_ANNOTATION];
    if (home?.startsWith(`${upstream}/`)) {
      const subject = await subjectOf(layout, entry.digest);
      if (subject) {
        const key = `${home.slice(upstream.length + 1)}@${subject}`;
        referrers.set(key, [...(referrers.get(key) ?? []), entry]);
      }
    }
  }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { errors: [{ code: 'UNKNOWN', message: 'archive read failed' }] }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://archive.invalid').pathname);
    if (path === '/v2/' || path === '/v2') return send(res, 200, {});
    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
    if (!m) return send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'not in the archive' }] });
    const [, repository, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'referrers') {
      const listed = referrers.get(`${repository}@${ref}`) ?? [];
      const body = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed.map(({ mediaType, digest, size, artifactType }) => ({ mediaType, digest, size, ...(artifactType && { artifactType }) })) };
      return send(res, 200, body, OCI_INDEX);
    }
    const digest = kind === 'manifests' && !isDigest(ref) ? tags.get(`${repository}:${ref}`) : ref;
    const blob = digest ? layout.blobs.get(digest) : undefined;
    if (!digest || !blob) {
      const code = kind === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      return send(res, 404, { errors: [{ code, message: `${ref} is not in the archive` }] });
    }
    const type = kind === 'manifests' ? await manifestType(blob.file) : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': blob.size, 'docker-content-digest': digest });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(blob.file).on('error', () => res.destroy()).pipe(res);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function manifestType(file: string): Promise<string> {
  try {
    const doc: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (isObject(doc) && typeof doc.mediaType === 'string') return doc.mediaType;
  } catch {
    // not JSON: the fetcher refuses it with its own reason
  }
  return 'application/vnd.oci.image.manifest.v1+json';
}

async function subjectOf(layout: ExtractedLayout, digest: string): Promise<string | undefined> {
  const blob = layout.blobs.get(digest);
  if (!blob) return undefined;
  try {
    const doc: unknown = JSON.parse(await readFile(blob.file, 'utf8'));
    const subject = isObject(doc) && isObject(doc.subject) ? doc.subject.digest : undefined;
    return typeof subject === 'string' ? subject : undefined;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': type, 'content-length': bytes.length });
  res.end(bytes);
}
