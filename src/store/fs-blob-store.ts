import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync, createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm, stat, statfs, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { FileChunkStream } from './file-chunk-stream.js';
import { processRunning } from '../process-alive.js';
import { digestAlgorithm, digestHex, digestOf, type Digest } from '../oci/digest.js';
import { readVerified } from './verified-read.js';
import type { BlobStore } from './blob-store.js';

/** A temp file nobody has written to for this long belongs to a download that is not coming back. */
const STALE_TEMP_MS = 15 * 60_000;
const STARTED_AT = Date.now() - Math.ceil(process.uptime() * 1000);
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 12);

function isAbandoned(name: string, path: string): boolean {
  const m = /^([0-9a-f]{12})-(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
  // Same pid as this process but older than it: an earlier run of a process that reuses its pid (pid 1 in a container).
  const earlierRun = m !== null && Number(m[2]) === process.pid && Number(m[3]) < STARTED_AT;
  if (m && m[1] === HOST_TAG && (earlierRun || !processRunning(Number(m[2])))) return true;
  try {
    return Date.now() - statSync(path).mtimeMs > STALE_TEMP_MS || !m;
  } catch {
    return false;
  }
}

/**
 * Content-addressed files: `blobs/<alg>/<first two hex>/<hex>`. New content is written to `tmp/` and renamed
 * into place only after its digest matched, so the store never holds a partial or wrong blob. Paths come
 * only from validated digests, so no request can name a file outside the store.
 */
export class FsBlobStore implements BlobStore {
  readonly blobsDir: string;
  readonly tmpDir: string;
  readonly description: string;
  /** A stat: followers on this machine may look often. */
  readonly landedPollMs = 20;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
    this.description = `the folder ${root}`;
  }

  /** Creates the folders and discards temp files left by a crash (see `discardAbandonedTempFiles`). */
  openSync(): { discardedTempFiles: number } {
    mkdirSync(this.blobsDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    return { discardedTempFiles: this.discardAbandonedTempFiles() };
  }

  async open(): Promise<{ discardedTempFiles: number }> {
    return this.openSync();
  }

  async check(): Promise<void> {
    accessSync(this.blobsDir, constants.W_OK);
    accessSync(this.tmpDir, constants.W_OK);
  }

  /**
   * Removes temp files of processes of this host that are no longer running, and any not written for
   * STALE_TEMP_MS (another machine sharing the store died). Temp files of live processes (sibling workers,
   * other replicas) are downloads in progress and stay. Returns how many it removed.
   */
  discardAbandonedTempFiles(): number {
    let discarded = 0;
    for (const f of this.tempNames()) {
      const path = join(this.tmpDir, f);
      if (!isAbandoned(f, path)) continue;
      rmSync(path, { force: true, recursive: true });
      discarded++;
    }
    return discarded;
  }

  /** Removes this process's own temp files: called as it exits, when none of its downloads can finish. */
  discardOwnTempFiles(): void {
    const own = `${HOST_TAG}-${process.pid}-`;
    for (const f of this.tempNames()) if (f.startsWith(own)) rmSync(join(this.tmpDir, f), { force: true });
  }

  private tempNames(): string[] {
    try {
      return readdirSync(this.tmpDir);
    } catch {
      return [];
    }
  }

  pathOf(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  async size(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch {
      return undefined;
    }
  }

  sizeSync(digest: Digest): number | undefined {
    try {
      return statSync(this.pathOf(digest)).size;
    } catch {
      return undefined;
    }
  }

  read(digest: Digest): Promise<Buffer> {
    return readFile(this.pathOf(digest));
  }

  createReadStream(digest: Digest, range?: { start: number; end: number }): Readable {
    return new FileChunkStream(this.pathOf(digest), range);
  }

  /** Bytes an unprivileged writer may still use on the store's filesystem; undefined if unknown. */
  async freeBytes(): Promise<number | undefined> {
    try {
      const s = await statfs(this.tmpDir);
      return s.bavail * s.bsize;
    } catch {
      return undefined;
    }
  }

  /** `<host tag>-<pid>-<time>-<random>`: whose download it is, so a restart discards only its own dead ones. */
  newTempPath(): string {
    return join(this.tmpDir, `${HOST_TAG}-${process.pid}-${Date.now()}-${randomBytes(8).toString('hex')}`);
  }

  createTempWriter(): { path: string; stream: WriteStream } {
    const path = this.newTempPath();
    return { path, stream: createWriteStream(path, { flags: 'wx' }) };
  }

  /** Moves a verified temp file into place (atomic rename on one filesystem). */
  async commit(tempPath: string, digest: Digest, opts: { sync?: boolean } = {}): Promise<void> {
    const target = this.pathOf(digest);
    mkdirSync(join(target, '..'), { recursive: true });
    // fsync before rename so a power loss cannot leave a renamed but empty file.
    if (opts.sync !== false) {
      const fh = await open(tempPath, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await rename(tempPath, target);
  }

  async discard(tempPath: string): Promise<void> {
    await rm(tempPath, { force: true });
  }

  /**
   * Writes small content (manifests, configs, signature layers) after checking its digest. Not fsynced:
   * small content is re-hashed whenever it is read back (see `readVerified`), so a file damaged by a power
   * loss is refetched, never served, and pulls do not wait for the disk.
   */
  async putVerified(digest: Digest, bytes: Buffer): Promise<void> {
    if (digestOf(bytes, digestAlgorithm(digest)) !== digest) throw new Error(`content does not match ${digest}`);
    if ((await this.size(digest)) === bytes.length) return;
    const { path, stream } = this.createTempWriter();
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.end(bytes, () => resolve());
    });
    try {
      await this.commit(path, digest, { sync: false });
    } catch (err) {
      await this.discard(path);
      throw err;
    }
  }

  /** Reads small content and checks it against its digest; a damaged file is removed and reported as absent. */
  readVerified(digest: Digest): Promise<Buffer | undefined> {
    // Any file that cannot be read is absent here: it is refetched.
    return readVerified(this, digest, () => true);
  }

  async remove(digest: Digest): Promise<void> {
    await unlink(this.pathOf(digest)).catch(() => {});
  }
}
