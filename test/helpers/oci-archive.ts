import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

/** Reads and rewrites OCI layout tars in memory, to build altered archives for import tests. */

export type ArchiveEntries = Map<string, Buffer>;

export async function readArchive(path: string): Promise<ArchiveEntries> {
  const entries: ArchiveEntries = new Map();
  const tar = extract();
  const done = new Promise<void>((resolve, reject) => {
    tar.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (header.type === 'file') entries.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    tar.on('finish', resolve);
    tar.on('error', reject);
  });
  Readable.from([await readFile(path)]).pipe(tar);
  await done;
  return entries;
}

export async function writeArchive(path: string, entries: ArchiveEntries): Promise<void> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => tar.on('end', resolve));
  for (const [name, bytes] of entries) tar.entry({ name, size: bytes.length }, bytes);
  tar.finalize();
  await ended;
  await writeFile(path, Buffer.concat(chunks));
}

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export function indexOf(entries: ArchiveEntries): { schemaVersion: number; manifests: IndexEntry[] } {
  return JSON.parse(entries.get('index.json')!.toString('utf8'));
}

export function blobName(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}
