import type { Config } from '../config/types.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';
import { createS3Client } from './s3-client.js';

/** The blob store the config names: an S3-compatible bucket (`storage.s3`) or the folder `storage.path`. */
export function createBlobStore(config: Config): BlobStore {
  const s3 = config.storage.s3;
  if (s3) return new S3BlobStore(s3, config.storage.path, createS3Client(s3));
  return new FsBlobStore(config.storage.path);
}
