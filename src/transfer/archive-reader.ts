import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { isDigest } from '../oci/digest.js';
import { isObject } from '../oci/manifest.js';
import type { LayoutDescriptor } from './layout.js';

/** Small files of the layout are read whole, up to this. */
const MAX_INDEX_BYTES = 4 * 1024 * 1024;

export class ArchiveError extends Error {}

export interface ExtractedBlob {
  /** Where the bytes were unpacked. */
  file: string;
  size: number;
  /** The bytes hash to the name they were stored under. */
  intact: boolean;
}

export interface ExtractedLayout {
  /** By digest (`sha256:…`). */
  blobs: Map<string, ExtractedBlob>;
  manifests: LayoutDescriptor[];
}

/**
 * Unpacks an OCI image layout tar into `dir`, hashing every blob as it is written, and reads its index.json.
 * Anything that is not a layout (no oci-layout, no index.json, an entry that is not a regular file), a
 * truncated or damaged tar, or an index that is not a valid image index is an ArchiveError naming the path.
 */
export async function extractLayout(archive: string, dir: string): Promise<ExtractedLayout> {
  await refuseCompressed(archive);
  const blobs = new Map<string, ExtractedBlob>();
  let layout: Buffer | undefined;
  let index: Buffer | undefined;
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    const done = (err?: unknown) => (err ? next(err) : next());
    if (header.type === 'directory') return stream.resume().on('end', done);
    if (header.type !== 'file') return done(new ArchiveError(`${archive}: entry "${name}" is a ${header.type}; an OCI layout holds regular files only`));
    if (name === 'oci-layout' || name === 'index.json') {
      readSmall(stream, name).then((bytes) => {
        if (name === 'oci-layout') layout = bytes;
        else index = bytes;
        done();
      }, done);
      return;
    }
    const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
    if (!blob) return stream.resume().on('end', done); // other files (blobs of other algorithms) are not read
    const file = join(dir, blob[1]!);
    const hash = createHash('sha256');
    let size = 0;
    const tee = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    pipeline(stream, tee, createWriteStream(file)).then(() => {
      blobs.set(`sha256:${blob[1]}`, { file, size, intact: hash.digest('hex') === blob[1] });
      done();
    }, done);
  });
  try {
    await pipeline(createReadStream(archive), tar);
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new ArchiveError(`${archive}: no such file`);
    if (e.code === 'EISDIR') throw new ArchiveError(`${archive} is a folder, not a tar archive`);
    if (/Unexpected end/i.test(e.message)) throw new ArchiveError(`${archive} is truncated (the tar ends in the middle of an entry); nothing was imported`);
    throw new ArchiveError(`${archive} is not a readable tar archive (${e.message}); nothing was imported`);
  }
  if (!layout) throw new ArchiveError(`${archive} is not an OCI image layout: it has no oci-layout file`);
  checkLayoutFile(archive, layout);
  if (!index) throw new ArchiveError(`${archive} has no index.json: it is not an OCI image layout, or it was cut short`);
  return { blobs, manifests: readIndex(archive, index) };
}

async function refuseCompressed(archive: string): Promise<void> {
  const handle = await open(archive, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new ArchiveError(`${archive}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0).catch((err: NodeJS.ErrnoException) => {
      throw new ArchiveError(`${archive}: ${err.code === 'EISDIR' ? 'is a folder, not a tar archive' : err.message}`);
    });
    if (bytesRead === 0) throw new ArchiveError(`${archive} is empty: it is not an OCI image layout archive`);
    if (head[0] === 0x1f && head[1] === 0x8b) throw new ArchiveError(`${archive} is gzip-compressed; decompress it first (gunzip), then import the tar`);
  } finally {
    await handle.close();
  }
}

function readSmall(stream: Readable, name: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_INDEX_BYTES) {
        stream.destroy();
        reject(new ArchiveError(`${name} is larger than ${MAX_INDEX_BYTES} bytes`));
      } else chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function parseJson(archive: string, name: string, bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message)?.[1];
    const offset = at !== undefined ? Number(at) : /end of JSON input/i.test(message) ? text.length : undefined;
    const where = offset === undefined ? '' : ` at ${lineAndColumn(text, offset)}`;
    throw new ArchiveError(`${archive}: ${name} is not valid JSON${where} (${message.replace(/\s*\(line \d+ column \d+\)/, '')})`);
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

function checkLayoutFile(archive: string, bytes: Buffer): void {
  const doc = parseJson(archive, 'oci-layout', bytes);
  if (!isObject(doc) || typeof doc.imageLayoutVersion !== 'string') {
    throw new ArchiveError(`${archive}: oci-layout has no imageLayoutVersion; it is not an OCI image layout`);
  }
  if (!doc.imageLayoutVersion.startsWith('1.')) {
    throw new ArchiveError(`${archive}: oci-layout says imageLayoutVersion ${JSON.stringify(doc.imageLayoutVersion).slice(0, 40)}; only 1.x is read`);
  }
}

function readIndex(archive: string, bytes: Buffer): LayoutDescriptor[] {
  const doc = parseJson(archive, 'index.json', bytes);
  if (!isObject(doc) || doc.schemaVersion !== 2 || !Array.isArray(doc.manifests)) {
    throw new ArchiveError(`${archive}: index.json is not an OCI image index (it needs schemaVersion 2 and a manifests list)`);
  }
  return doc.manifests.map((entry, i) => {
    const at = `${archive}: index.json manifests[${i}]`;
    if (!isObject(entry)) throw new ArchiveError(`${at} is not a descriptor object`);
    const { mediaType, digest, size, annotations, artifactType } = entry;
    if (typeof mediaType !== 'string') throw new ArchiveError(`${at}.mediaType is missing`);
    if (typeof digest !== 'string' || !isDigest(digest)) throw new ArchiveError(`${at}.digest is not a digest (${JSON.stringify(digest)?.slice(0, 80)})`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new ArchiveError(`${at}.size is not a size`);
    const names: Record<string, string> = {};
    if (isObject(annotations)) for (const [k, v] of Object.entries(annotations)) if (typeof v === 'string') names[k] = v;
    return { mediaType, digest, size, annotations: names, ...(typeof artifactType === 'string' && { artifactType }) };
  });
}
