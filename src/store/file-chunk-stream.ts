import { close, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import { fileChunks, type ChunkPool } from './chunk-pool.js';

/** A body whose chunks may be handed back for reuse once written. */
export interface Recycling {
  recycle(chunk: Buffer): void;
}

export function isRecycling(body: unknown): body is Recycling {
  return typeof (body as Partial<Recycling> | null)?.recycle === 'function';
}

/**
 * A file's bytes (or a range of them) in pooled chunks. A consumer that calls `recycle(chunk)` once the chunk is
 * written lets the next read reuse its buffer; one that does not simply leaves it to the collector.
 */
export class FileChunkStream extends Readable implements Recycling {
  private fd: number | undefined;
  private position: number;
  /** Exclusive. */
  private readonly stop: number;

  constructor(
    private readonly path: string,
    range?: { start: number; end: number },
    private readonly pool: ChunkPool = fileChunks,
  ) {
    // One chunk read ahead of the consumer.
    super({ highWaterMark: pool.chunkBytes });
    this.position = range?.start ?? 0;
    this.stop = range ? range.end + 1 : Number.POSITIVE_INFINITY;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    open(this.path, 'r', (err, fd) => {
      if (!err) this.fd = fd;
      callback(err);
    });
  }

  override _read(): void {
    const left = this.stop - this.position;
    if (left <= 0) {
      this.push(null);
      return;
    }
    const buf = this.pool.take();
    read(this.fd!, buf, 0, Math.min(buf.length, left), this.position, (err, n) => {
      if (err) {
        this.pool.give(buf);
        this.destroy(err);
        return;
      }
      if (n === 0) {
        this.pool.give(buf);
        // A range past the end of the file is a short file, not an empty success.
        if (Number.isFinite(this.stop)) this.destroy(new Error(`file ended at ${this.position} bytes, before ${this.stop}`));
        else this.push(null);
        return;
      }
      this.position += n;
      this.push(buf.subarray(0, n));
    });
  }

  recycle(chunk: Buffer): void {
    this.pool.give(chunk);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.fd === undefined) return callback(err);
    const fd = this.fd;
    this.fd = undefined;
    close(fd, () => callback(err));
  }
}
