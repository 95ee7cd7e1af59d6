import { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DigestVerifier, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore } from '../store/blob-store.js';

/**
 * One upstream download of one blob into the store. The upstream body is written to a temp file at the
 * upstream's pace; every client reads that file as it grows (`createReader`), so clients get bytes as they
 * arrive, share one upstream fetch, and a slow client never holds back the download or other clients.
 * The file is renamed into the store only when size and digest match; otherwise every reader fails.
 */
export class BlobDownload extends EventEmitter {
  written = 0;
  /** Size and digest checked; every byte may be served. */
  verified = false;
  /** Committed to the store. */
  done = false;
  failure: Error | undefined;
  /** The temp path while downloading, the store path once committed. */
  path: string;

  constructor(
    readonly digest: Digest,
    readonly size: number | undefined,
    tempPath: string,
  ) {
    super();
    this.path = tempPath;
    this.setMaxListeners(0);
  }

  /** Copies `body` into the temp file, verifies and commits it. Resolves when finished either way. */
  async run(body: AsyncIterable<Buffer>, store: BlobStore, onDone: (size: number) => void): Promise<void> {
    const tempPath = this.path;
    const verifier = new DigestVerifier(this.digest);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tempPath, 'wx');
      for await (const chunk of body) {
        verifier.update(chunk);
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset, this.written);
          offset += bytesWritten;
          this.written += bytesWritten;
        }
        if (this.size !== undefined && this.written > this.size) {
          throw new OciError('UPSTREAM_INVALID', `upstream sent more than the ${this.size} bytes of ${this.digest}`);
        }
        this.emit('progress');
      }
      if (this.size !== undefined && this.written !== this.size) {
        throw new OciError('UPSTREAM_INVALID', `upstream sent ${this.written} of ${this.size} bytes of ${this.digest}`);
      }
      const actual = verifier.finish();
      if (actual !== this.digest) {
        throw new OciError('UPSTREAM_INVALID', `upstream content for ${this.digest} has digest ${actual}`);
      }
      // Verified: clients may have their last byte now. Making the file durable (fsync, rename) is the
      // cache's business and stays off their critical path.
      this.verified = true;
      this.emit('progress');
      await fh.close();
      fh = undefined;
    } catch (err) {
      this.failure = toOciError(err);
      await fh?.close().catch(() => {});
      await store.discard(tempPath);
      this.emit('progress');
      return;
    }
    try {
      await store.commit(tempPath, this.digest);
      this.path = store.pathOf(this.digest);
      this.done = true;
      onDone(this.written);
    } catch (err) {
      // Clients got verified bytes; only the cache entry is lost. Readers still opening the temp file fail.
      this.failure = toOciError(err);
      await store.discard(tempPath);
    }
    this.emit('progress');
  }

  /** A stream of bytes [start, end] that follows the download as it grows. */
  createReader(start = 0, end?: number): Readable {
    return new FollowerStream(this, start, end);
  }

  /** Waits until the download has finished (committed) or failed. */
  settled(): Promise<void> {
    if (this.done || this.failure) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.done || this.failure) {
          this.off('progress', check);
          resolve();
        }
      };
      this.on('progress', check);
    });
  }
}

const CHUNK = 256 * 1024;

class FollowerStream extends Readable {
  private fh: FileHandle | undefined;
  private position: number;
  private reading = false;

  constructor(
    private readonly download: BlobDownload,
    start: number,
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: CHUNK });
    this.position = start;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    this.pump().catch((err) => this.destroy(err as Error));
  }

  private async pump(): Promise<void> {
    const d = this.download;
    for (;;) {
      if (d.failure && !d.verified) throw d.failure;
      const limit = this.limit();
      if (this.position >= limit) {
        const complete = d.verified && (this.end === undefined || this.position > this.end || this.position >= d.written);
        if (complete) {
          this.reading = false;
          this.push(null);
          return;
        }
        await new Promise<void>((resolve) => d.once('progress', resolve));
        continue;
      }
      const fh = await this.handle();
      const length = Math.min(CHUNK, limit - this.position);
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, this.position);
      if (bytesRead === 0) throw new Error('blob file shrank while reading');
      this.position += bytesRead;
      if (!this.push(bytesRead === length ? buf : buf.subarray(0, bytesRead))) {
        this.reading = false;
        return;
      }
    }
  }

  /**
   * How far this reader may go now. Until the download is verified, the last byte of the span is withheld:
   * a client can never see a complete body whose digest has not been checked, so a truncated or wrong
   * upstream body always ends in a broken connection rather than a response that looks finished.
   */
  private limit(): number {
    const d = this.download;
    const spanEnd = this.end !== undefined ? this.end + 1 : (d.size ?? Number.POSITIVE_INFINITY);
    if (d.verified) return Math.min(d.written, spanEnd);
    return Math.max(0, Math.min(d.written, spanEnd - 1, d.size === undefined ? d.written - 1 : Number.POSITIVE_INFINITY));
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    try {
      this.fh = await open(this.download.path, 'r');
    } catch (err) {
      // The temp file was renamed (or dropped) between our path read and open: follow it to the store.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.download.settled();
      if (!this.download.done) throw this.download.failure ?? err;
      this.fh = await open(this.download.path, 'r');
    }
    return this.fh;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) fh.close().then(() => cb(err), () => cb(err));
    else cb(err);
  }
}

function toOciError(err: unknown): Error {
  if (err instanceof OciError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new OciError('STORAGE_UNAVAILABLE', 'the proxy cache is out of disk space');
  return new OciError('UPSTREAM_UNAVAILABLE', `blob download failed: ${(err as Error).message}`);
}
