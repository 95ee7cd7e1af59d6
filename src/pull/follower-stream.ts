import type { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileChunks } from '../store/chunk-pool.js';
import type { Recycling } from '../store/file-chunk-stream.js';

const CHUNK = fileChunks.chunkBytes;

/**
 * A blob download that readers follow as it grows: one run by this process (BlobDownload) or by another
 * process sharing the store (RemoteDownload). It emits 'progress' whenever any field below changes.
 */
export interface GrowingBlob extends EventEmitter {
  readonly size: number | undefined;
  /** Bytes that may be read from memory or from `path`. */
  readonly received: number;
  /** Size and digest checked: the last byte may be served. */
  readonly verified: boolean;
  /** Committed to the store: what is not in memory is read from the store (`readCommitted`). */
  readonly done: boolean;
  readonly failure: Error | undefined;
  /** The local temp file being written; gone once the blob is committed (or on another machine). */
  readonly path: string;
  fromMemory(position: number, limit: number): Buffer | undefined;
  /** Bytes [start, end] of the committed blob, from the store. */
  readCommitted(start: number, end: number): Readable;
  settled(): Promise<void>;
}

/** Resolves once a download has finished (committed) or failed. */
export function whenSettled(blob: GrowingBlob): Promise<void> {
  if (blob.done || blob.failure) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!blob.done && !blob.failure) return;
      blob.off('progress', check);
      resolve();
    };
    blob.on('progress', check);
  });
}

/**
 * Reads one download's bytes [start, end] as they arrive: from its memory window, else from its temp file, or
 * from the store once the download is committed and the temp file is gone. File reads use pooled buffers that
 * the writer hands back (`recycle`); bytes from the window belong to the download and are never reused.
 */
export class FollowerStream extends Readable implements Recycling {
  private fh: FileHandle | undefined;
  private committed: AsyncIterator<Buffer> | undefined;
  private position: number;
  private reading = false;

  constructor(
    private readonly download: GrowingBlob,
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
      if (!this.committed) {
        const memory = d.fromMemory(this.position, limit);
        if (memory) {
          this.position += memory.length;
          if (!this.push(memory)) {
            this.reading = false;
            return;
          }
          continue;
        }
      }
      const fh = this.committed ? undefined : await this.handle();
      if (!fh) {
        // Committed: the rest comes from the store, in one read that this reader alone follows from now on.
        this.committed ??= (d.readCommitted(this.position, this.limit() - 1) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        const next = await this.committed.next();
        if (next.done) throw new Error('stored blob ended early');
        this.position += next.value.length;
        if (!this.push(next.value)) {
          this.reading = false;
          return;
        }
        continue;
      }
      const length = Math.min(CHUNK, limit - this.position);
      const buf = fileChunks.take();
      const { bytesRead } = await fh.read(buf, 0, length, this.position);
      if (bytesRead === 0) {
        fileChunks.give(buf);
        throw new Error('blob file shrank while reading');
      }
      this.position += bytesRead;
      if (!this.push(buf.subarray(0, bytesRead))) {
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

  /** The temp file, or undefined once the blob is committed and the temp file gone: read the store then. */
  private async handle(): Promise<FileHandle | undefined> {
    if (this.fh) return this.fh;
    if (this.download.done) return undefined;
    try {
      this.fh = await open(this.download.path, 'r');
    } catch (err) {
      // The temp file was committed (or dropped) between our path read and open, or is on another machine.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.download.settled();
      if (!this.download.done) throw this.download.failure ?? err;
      return undefined;
    }
    return this.fh;
  }

  /** Only pooled buffers go back (the pool ignores anything else): window chunks stay the download's. */
  recycle(chunk: Buffer): void {
    fileChunks.give(chunk);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    void this.committed?.return?.();
    this.committed = undefined;
    if (fh) fh.close().then(() => cb(err), () => cb(err));
    else cb(err);
  }
}
