import { createReadStream } from 'node:fs';
import { stat, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { WriteStream } from 'node:fs';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand,
  PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3StoreConfig } from '../config/types.js';
import { digestAlgorithm, digestHex, digestOf, type Digest } from '../oci/digest.js';
import { readVerified } from './verified-read.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { describeS3Error, isNotFound } from './s3-client.js';

/** Multipart part size: 8 parts of a 128 MiB layer in flight at most `QUEUE` at a time. */
const PART_BYTES = 16 * 1024 * 1024;
const QUEUE = 4;
/** Multipart uploads begun longer ago than this belong to a process that died; they are aborted. */
const STALE_UPLOAD_MS = 6 * 3600_000;
/** How often the abandoned uploads are looked for (the local temp folder is swept far more often). */
const UPLOAD_SWEEP_MS = 15 * 60_000;
const CHECK_TIMEOUT_MS = 5_000;

/**
 * Blobs in an S3-compatible bucket under `<prefix>blobs/<alg>/<hex>`. Downloads are spooled to local temp files
 * (`storage.path`/tmp), where followers in this process read them as they grow; a verified file is uploaded to
 * its digest key in one PUT, or a multipart upload that becomes visible only when completed, so no partial or
 * unverified object ever appears under a digest key. A process killed mid-upload leaves at most an incomplete
 * multipart upload, invisible, aborted by the periodic sweep (or a bucket lifecycle rule).
 */
export class S3BlobStore implements BlobStore {
  readonly description: string;
  /** A HEAD request: followers on other replicas ask four times a second. */
  readonly landedPollMs = 250;
  private readonly spool: FsBlobStore;
  private lastUploadSweep = 0;

  constructor(
    private readonly cfg: S3StoreConfig,
    spoolRoot: string,
    private readonly client: S3Client,
  ) {
    this.spool = new FsBlobStore(spoolRoot);
    this.description = `bucket ${cfg.bucket}${cfg.prefix ? ` (prefix ${cfg.prefix})` : ''}${cfg.endpoint ? ` at ${cfg.endpoint}` : ''}`;
  }

  keyOf(digest: Digest): string {
    return `${this.cfg.prefix}blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
  }

  async open(): Promise<{ discardedTempFiles: number }> {
    const { discardedTempFiles } = this.spool.openSync();
    const problem = await this.bucketProblem();
    if (problem) throw new Error(`storage.s3: ${problem}`);
    return { discardedTempFiles: discardedTempFiles + (await this.abortStaleUploads()) };
  }

  async check(): Promise<void> {
    await this.spool.check();
    try {
      await this.headBucket();
    } catch (err) {
      throw new Error(describeS3Error(err));
    }
  }

  /** Why the bucket cannot be used now (missing, credentials refused, unreachable), or undefined when it can. */
  async bucketProblem(): Promise<string | undefined> {
    try {
      await this.headBucket();
      return undefined;
    } catch (err) {
      return `${this.description} cannot be used: ${describeS3Error(err)}`;
    }
  }

  private headBucket(): Promise<unknown> {
    return this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }), { abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
  }

  discardAbandonedTempFiles(): number {
    if (Date.now() - this.lastUploadSweep > UPLOAD_SWEEP_MS) void this.abortStaleUploads();
    return this.spool.discardAbandonedTempFiles();
  }

  discardOwnTempFiles(): void {
    this.spool.discardOwnTempFiles();
  }

  /** Aborts multipart uploads under the prefix begun long ago; stores that cannot list them rely on lifecycle rules. */
  private async abortStaleUploads(): Promise<number> {
    this.lastUploadSweep = Date.now();
    let aborted = 0;
    try {
      const list = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.cfg.bucket, Prefix: `${this.cfg.prefix}blobs/` }));
      for (const u of list.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || Date.now() - u.Initiated.getTime() < STALE_UPLOAD_MS) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
    } catch {
      // Not supported by every S3-compatible store, or the store is down: the next sweep tries again.
    }
    return aborted;
  }

  async size(digest: Digest): Promise<number | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(digest) }));
      return head.ContentLength;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable(err);
    }
  }

  async read(digest: Digest): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(digest) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) throw Object.assign(new Error(`blob ${digest} is not in the store`), { code: 'ENOENT' });
      throw unavailable(err);
    }
  }

  createReadStream(digest: Digest, range?: { start: number; end: number }): Readable {
    const { client, cfg } = this;
    const key = this.keyOf(digest);
    async function* body(): AsyncGenerator<Buffer> {
      let res;
      try {
        res = await client.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
      } catch (err) {
        if (isNotFound(err)) throw new OciError('BLOB_UNKNOWN', `blob ${digest} is no longer in the store`);
        throw unavailable(err);
      }
      yield* res.Body as Readable;
    }
    return Readable.from(body(), { objectMode: false });
  }

  freeBytes(): Promise<number | undefined> {
    return this.spool.freeBytes();
  }

  newTempPath(): string {
    return this.spool.newTempPath();
  }

  createTempWriter(): { path: string; stream: WriteStream } {
    return this.spool.createTempWriter();
  }

  discard(tempPath: string): Promise<void> {
    return this.spool.discard(tempPath);
  }

  /** Uploads a verified temp file to its digest key (visible only once whole), then drops the temp file. */
  async commit(tempPath: string, digest: Digest): Promise<void> {
    try {
      const { size } = await stat(tempPath);
      const upload = new Upload({
        client: this.client,
        params: { ...this.putParams(digest), Body: createReadStream(tempPath, { highWaterMark: 1024 * 1024 }), ContentLength: size },
        partSize: PART_BYTES,
        queueSize: QUEUE,
        leavePartsOnError: false,
      });
      await upload.done();
      const landed = await this.size(digest);
      if (landed !== size) {
        await this.remove(digest);
        throw new Error(`the store holds ${landed} bytes of ${digest} after uploading ${size}`);
      }
    } catch (err) {
      throw err instanceof OciError ? err : unavailable(err);
    } finally {
      await rm(tempPath, { force: true });
    }
  }

  async putVerified(digest: Digest, bytes: Buffer): Promise<void> {
    if (digestOf(bytes, digestAlgorithm(digest)) !== digest) throw new Error(`content does not match ${digest}`);
    if ((await this.size(digest)) === bytes.length) return;
    try {
      await this.client.send(new PutObjectCommand({
        ...this.putParams(digest), Body: bytes, ContentLength: bytes.length,
        // The store checks the body against this: a PUT damaged in transit is refused, not stored.
        ContentMD5: createHash('md5').update(bytes).digest('base64'),
      }));
    } catch (err) {
      throw unavailable(err);
    }
  }

  readVerified(digest: Digest): Promise<Buffer | undefined> {
    // Only a missing object is absent; a store that does not answer fails the request closed.
    return readVerified(this, digest, (err) => (err as NodeJS.ErrnoException).code === 'ENOENT');
  }

  async remove(digest: Digest): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(digest) })).catch(() => {});
  }

  /** A GET URL for the blob signed for `ttlMs`: whoever holds it may read this one object until it expires. */
  presignGet(digest: Digest, ttlMs: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.keyOf(digest) }), {
      expiresIn: Math.max(1, Math.floor(ttlMs / 1000)),
    });
  }

  private putParams(digest: Digest) {
    return {
      Bucket: this.cfg.bucket,
      Key: this.keyOf(digest),
      ContentType: 'application/octet-stream',
      ...(this.cfg.serverSideEncryption ? { ServerSideEncryption: this.cfg.serverSideEncryption } : {}),
      ...(this.cfg.kmsKeyId ? { SSEKMSKeyId: this.cfg.kmsKeyId } : {}),
    };
  }
}

/** The store did not answer as it should: the request fails closed with 503, and says why without secrets. */
function unavailable(err: unknown): OciError {
  if (err instanceof OciError) return err;
  return new OciError('UNAVAILABLE', `the blob store cannot be used: ${describeS3Error(err)}`);
}
