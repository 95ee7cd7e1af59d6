import type { Config } from '../config/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobHandoff } from '../store/blob-handoff.js';
import { XAccelHandoff } from '../store/x-accel-handoff.js';
import type { S3BlobStore } from '../store/s3-blob-store.js';
import { FsBlobStore } from '../store/fs-blob-store.js';
import { presignedRedirects } from '../store/s3-redirect.js';

/**
 * Who serves cached, allowed blobs besides this process, from the config: nobody (the proxy streams them), nginx
 * (`storage.offload`), or object storage (`storage.s3.redirect`).
 */
export function createBlobHandoff(config: Config, store: BlobStore): BlobHandoff | undefined {
  if (config.storage.offload && store instanceof FsBlobStore) return new XAccelHandoff(config.storage.offload.xAccelRedirect, store);
  // createBlobStore makes an S3BlobStore whenever storage.s3 is set.
  if (config.storage.s3?.redirect) return presignedRedirects(store as S3BlobStore, config.storage.s3.redirectTtlMs);
  return undefined;
}
