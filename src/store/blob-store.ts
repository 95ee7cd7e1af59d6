import type { WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';

/**
 * Content-addressed blob storage: a folder (`FsBlobStore`) or an S3-compatible bucket (`S3BlobStore`), chosen by
 * config. New content is always written to a local temp file first (followers in this process read it as it
 * grows) and becomes visible under its digest only through `commit`, after the caller checked its digest: the
 * store never holds a partial or wrong blob under a digest.
 */
export interface BlobStore {
  /** Where the blobs live, for logs and errors: never credentials. */
  readonly description: string;
  /** How often a follower in another process may ask whether a blob has landed (`size`). */
  readonly landedPollMs: number;

  /** Prepares the store and discards leftovers of a crash; rejects with a clear message if it is unusable. */
  open(): Promise<{ discardedTempFiles: number }>;
  /** Readiness: resolves when the store can be read and written now, rejects with the reason otherwise. */
  check(): Promise<void>;
  /** Removes temp content of downloads whose process died; returns how many local temp files it removed. */
  discardAbandonedTempFiles(): number;
  /** Removes this process's own temp files: called as it exits, when none of its downloads can finish. */
  discardOwnTempFiles(): void;

  /** The committed blob's size, undefined when absent; rejects when the store cannot tell (it is down). */
  size(digest: Digest): Promise<number | undefined>;
  read(digest: Digest): Promise<Buffer>;
  /** The committed blob's bytes [start, end]; a failure to reach the store surfaces as a stream error. */
  createReadStream(digest: Digest, range?: { start: number; end: number }): Readable;
  /** Bytes still free for temp files; undefined if unknown. */
  freeBytes(): Promise<number | undefined>;

  newTempPath(): string;
  createTempWriter(): { path: string; stream: WriteStream };
  /** Makes a verified temp file visible under `digest`; the temp file is gone afterwards either way. */
  commit(tempPath: string, digest: Digest, opts?: { sync?: boolean }): Promise<void>;
  discard(tempPath: string): Promise<void>;

  /** Writes small content (manifests, configs, signature layers) after checking its digest. */
  putVerified(digest: Digest, bytes: Buffer): Promise<void>;
  /** Reads small content and checks it against its digest; damaged content is removed and reported as absent. */
  readVerified(digest: Digest): Promise<Buffer | undefined>;
  remove(digest: Digest): Promise<void>;
}
