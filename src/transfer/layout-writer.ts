import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import { digestHex, type Digest } from '../oci/digest.js';
import type { LayoutDescriptor } from './layout.js';

/**
 * Writes an OCI image layout as a tar archive: `oci-layout` first, blobs as they come, `index.json` last.
 * Everything goes to a hidden `.NAME.partial-PID` file beside the destination, which is flushed to disk and
 * renamed only once the archive is whole: a full disk, an error or an interruption never leaves a file under
 * the requested name, and a truncated temp file lacks its index.
 */
export class LayoutWriter {
  readonly tempPath: string;
  private readonly tar: Pack;
  private readonly done: Promise<void>;
  private readonly written = new Set<string>();
  private failure: Error | undefined;

  private constructor(readonly outPath: string) {
    this.tempPath = join(dirname(outPath), `.${basename(outPath)}.partial-${process.pid}`);
    this.tar = pack();
    this.done = pipeline(this.tar, createWriteStream(this.tempPath, { flags: 'wx' })).catch((err: Error) => {
      this.failure = err;
      throw err;
    });
    this.done.catch(() => {}); // observed by finish/abort
  }

  static async create(outPath: string): Promise<LayoutWriter> {
    const writer = new LayoutWriter(outPath);
    writer.entry('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    writer.tar.entry({ name: 'blobs/', type: 'directory' });
    writer.tar.entry({ name: 'blobs/sha256/', type: 'directory' });
    return writer;
  }

  /** The archive file could not be written (a full disk, an I/O error): nothing more can go in. */
  get broken(): boolean {
    return this.failure !== undefined;
  }

  has(digest: string): boolean {
    return this.written.has(digest);
  }

  /** Adds a blob held in memory, once per digest. */
  async addBytes(digest: Digest, bytes: Buffer): Promise<void> {
    if (this.written.has(digest)) return;
    this.check();
    this.written.add(digest);
    await new Promise<void>((resolve, reject) => {
      this.tar.entry({ name: blobPath(digest), size: bytes.length }, bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Streams a blob of known size, checking on the way that the bytes are the digest's. */
  async addStream(digest: Digest, size: number, body: Readable): Promise<void> {
    if (this.written.has(digest)) {
      body.destroy();
      return;
    }
    this.check();
    this.written.add(digest);
    const hash = createHash('sha256');
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const entry = this.tar.entry({ name: blobPath(digest), size });
    await pipeline(body, tee, entry);
    if (`sha256:${hash.digest('hex')}` !== digest) throw new Error(`blob ${digest} changed while it was written (its bytes hash differently)`);
  }

  /** Writes index.json, then flushes and renames the archive into place. */
  async finish(manifests: LayoutDescriptor[]): Promise<void> {
    this.check();
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
    this.entry('index.json', Buffer.from(JSON.stringify(index, null, 2)));
    this.tar.finalize();
    await this.done;
    const handle = await open(this.tempPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(this.tempPath, this.outPath);
  }

  /** Stops writing and removes the temp file. */
  async abort(): Promise<void> {
    this.tar.destroy();
    await this.done.catch(() => {});
    await rm(this.tempPath, { force: true });
  }

  private entry(name: string, bytes: Buffer): void {
    this.tar.entry({ name, size: bytes.length }, bytes);
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}
