import type { Config } from '../config/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobHandoff } from '../store/blob-handoff.js';
import { XAccelHandoff } from '../store/x-accel-handoff.js';
import { S3BlobStore } from '../store/s3-blob-store.js';
import { FsBlobStore } from '../store/fs-blob-store.js';
import { presignedRedirects } from '../store/s3-redirect.js';

/**
 * Who serves cached, allowed blobs besides this process, from the config: nobody (the proxy streams them), nginx
 * (`storage.offload`), or object storage (`storage.s3.redirect`).
 */
export function createBlobHandoff(config: Config, store: BlobStore): BlobHandoff | undefined {
  if (config.storage.offload && store instanceof FsBlobStore) return new XAccelHandoff(config.storage.offload.xAccelRedirect, store);
  if (config.storage.s3?.redirect && store instanceof S3BlobStore) return presignedRedirects(store, config.storage.s3.redirectTtlMs);
  return undefined;
}
