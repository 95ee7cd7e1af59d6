import { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { batches, writeAll } from './batched-body.js';
import { FollowerStream, whenSettled, type GrowingBlob } from './follower-stream.js';
import { DigestVerifier, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore } from '../store/blob-store.js';

/** Recent bytes kept in memory for readers that keep up with the download. */
const WINDOW_BYTES = 8 * 1024 * 1024;
const DISK_BATCH_BYTES = 1024 * 1024;
const UNWRITTEN_PER_DOWNLOAD = 32 * 1024 * 1024;
const UNWRITTEN_TOTAL = 128 * 1024 * 1024;
/** Bytes received but not yet on disk, across all downloads: bounds the memory a slow disk can cost. */
let unwrittenTotal = 0;

/**
 * One upstream download of one blob into the store, at the upstream's pace. Every client reads the download
 * as it grows (`createReader`): from an in-memory window of recent bytes while it keeps up, else from the
 * temp file. So clients get bytes as they arrive, share one upstream fetch, and a slow client never holds
 * back the download or other clients. The last byte is released only once size and digest match, and the
 * file is renamed into the store only then; otherwise every reader fails.
 */
export class BlobDownload extends EventEmitter implements GrowingBlob {
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
  /** The temp file being written. */
  readonly path: string;

  constructor(
    readonly digest: Digest,
    readonly size: number | undefined,
    tempPath: string,
    private readonly store: BlobStore,
  ) {
    super();
    this.path = tempPath;
    this.setMaxListeners(0);
  }

  /** Copies `body` into the temp file, verifies and commits it. Resolves when finished either way. */
  async run(body: AsyncIterable<Buffer>, onDone: (size: number) => void): Promise<void> {
    const { path: tempPath, store } = this;
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

  readCommitted(start: number, end: number): Readable {
    return this.store.createReadStream(this.digest, { start, end });
  }

  /** A stream of bytes [start, end] that follows the download as it grows. */
  createReader(start = 0, end?: number): Readable {
    return new FollowerStream(this, start, end);
  }

  /** Waits until the download has finished (committed) or failed. */
  settled(): Promise<void> {
    return whenSettled(this);
  }
}

function toOciError(err: unknown): Error {
  if (err instanceof OciError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new OciError('STORAGE_UNAVAILABLE', 'the proxy cache is out of disk space');
  return new OciError('UPSTREAM_UNAVAILABLE', `blob download failed: ${(err as Error).message}`);
}

