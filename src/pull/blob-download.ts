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
  /** Bytes received from the upstream (hashed; in memory or on disk). */
  received = 0;
  /** Bytes written to the temp file. */
  written = 0;
  /**
   * The most recent bytes, kept in memory so readers that keep up are served without waiting for the disk
   * write or reading the file back. Only bytes already on disk are dropped from it.
   */
  readonly window: Array<{ offset: number; buf: Buffer }> = [];
  private windowBytes = 0;
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
    let writing = Promise.resolve();
    let writeError: unknown;
    let pending = 0;
    let diskBatch: Buffer[] = [];
    let diskBatchBytes = 0;
    const flush = () => {
      if (diskBatchBytes === 0 || !fh) return;
      const chunks = diskBatch;
      const size = diskBatchBytes;
      const at = this.received - size;
      const file = fh;
      diskBatch = [];
      diskBatchBytes = 0;
      pending += size;
      unwrittenTotal += size;
      writing = writing.then(async () => {
        try {
          if (writeError === undefined) {
            await writeAll(file, chunks, at);
            this.written = at + size;
            this.trimWindow();
          }
        } catch (err) {
          writeError = err;
        } finally {
          pending -= size;
          unwrittenTotal -= size;
        }
      });
    };
    try {
      fh = await open(tempPath, 'wx');
      for await (const chunks of batches(body)) {
        const at = this.received;
        for (const chunk of chunks) {
          verifier.update(chunk);
          this.window.push({ offset: this.received, buf: chunk });
          this.received += chunk.length;
          this.windowBytes += chunk.length;
        }
        if (this.size !== undefined && this.received > this.size) {
          throw new OciError('UPSTREAM_INVALID', `upstream sent more than the ${this.size} bytes of ${this.digest}`);
        }
        this.emit('progress');
        // The disk write runs behind the network, in batches of at least DISK_BATCH_BYTES: readers are served
        // from the window meanwhile. Reading the upstream waits only when too much is still unwritten, here
        // or across all downloads.
        diskBatch.push(...chunks);
        diskBatchBytes += this.received - at;
        if (diskBatchBytes >= DISK_BATCH_BYTES) flush();
        if (pending > UNWRITTEN_PER_DOWNLOAD || unwrittenTotal > UNWRITTEN_TOTAL) await writing;
        if (writeError !== undefined) throw writeError;
      }
      flush();
      if (this.size !== undefined && this.received !== this.size) {
        throw new OciError('UPSTREAM_INVALID', `upstream sent ${this.received} of ${this.size} bytes of ${this.digest}`);
      }
      const actual = verifier.finish();
      if (actual !== this.digest) {
        throw new OciError('UPSTREAM_INVALID', `upstream content for ${this.digest} has digest ${actual}`);
      }
      // Verified: clients may have their last byte now (what is not on disk yet is still in the window).
      // Finishing the file (write, fsync, rename) is the cache's business and stays off their critical path.
      this.verified = true;
      this.emit('progress');
      await writing;
      if (writeError !== undefined) throw writeError;
      await fh.close();
      fh = undefined;
    } catch (err) {
      this.failure = toOciError(err);
      await writing;
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

  private trimWindow(): void {
    while (this.windowBytes > WINDOW_BYTES && this.window.length > 0) {
      const first = this.window[0]!;
      if (first.offset + first.buf.length > this.written) break;
      this.window.shift();
      this.windowBytes -= first.buf.length;
    }
  }

  /** Bytes at `position` (up to `limit`) from the in-memory window, or undefined when they are only on disk. */
  fromMemory(position: number, limit: number): Buffer | undefined {
    const first = this.window[0];
    if (!first || position < first.offset) return undefined;
    for (const { offset, buf } of this.window) {
      if (position < offset + buf.length) return buf.subarray(position - offset, Math.min(buf.length, limit - offset));
    }
    return undefined;
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

const CHUNK = 1024 * 1024;

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
        const complete = d.verified && (this.end === undefined || this.position > this.end || this.position >= d.received);
        if (complete) {
          this.reading = false;
          this.push(null);
          return;
        }
        await new Promise<void>((resolve) => d.once('progress', resolve));
        continue;
      }
      const memory = d.fromMemory(this.position, limit);
      if (memory) {
        this.position += memory.length;
        if (!this.push(memory)) {
          this.reading = false;
          return;
        }
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
    if (d.verified) return Math.min(d.received, spanEnd);
    return Math.max(0, Math.min(d.received, spanEnd - 1, d.size === undefined ? d.received - 1 : Number.POSITIVE_INFINITY));
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

const BATCH_BYTES = 4 * 1024 * 1024;
const WINDOW_BYTES = 8 * 1024 * 1024;
const DISK_BATCH_BYTES = 1024 * 1024;
const UNWRITTEN_PER_DOWNLOAD = 32 * 1024 * 1024;
const UNWRITTEN_TOTAL = 128 * 1024 * 1024;
/** Bytes received but not yet on disk, across all downloads: bounds the memory a slow disk can cost. */
let unwrittenTotal = 0;

/**
 * Groups what the body has buffered into one batch per disk write: a fast upstream fills big batches while
 * the previous write runs, a slow one still gets every chunk written as soon as it arrives.
 */
async function* batches(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer[]> {
  const stream = body as Partial<Readable> & AsyncIterable<Buffer>;
  if (typeof stream.read !== 'function' || typeof stream.once !== 'function') {
    for await (const chunk of body) yield [chunk];
    return;
  }
  const readable = stream as Readable;
  for (;;) {
    const chunks: Buffer[] = [];
    let size = 0;
    let chunk: Buffer | null;
    while (size < BATCH_BYTES && (chunk = readable.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      size += chunk.length;
    }
    if (chunks.length > 0) {
      yield chunks;
      continue;
    }
    if (readable.readableEnded) return;
    if (readable.errored) throw readable.errored;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        readable.off('readable', done);
        readable.off('end', done);
        readable.off('error', fail);
        readable.off('close', done);
        resolve();
      };
      const fail = (err: Error) => {
        done();
        reject(err);
      };
      readable.once('readable', done);
      readable.once('end', done);
      readable.once('close', done);
      readable.once('error', fail);
    });
    if (readable.destroyed && !readable.readableEnded) {
      throw readable.errored ?? new Error('upstream body closed before its end');
    }
  }
}

async function writeAll(fh: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let pending = chunks;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const c of pending) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    pending = rest;
  }
}
