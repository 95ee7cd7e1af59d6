import type { Config } from '../config/types.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';

/**
 * The blob store the config names: an S3-compatible bucket (`storage.s3`) or the folder `storage.path`. The AWS
 * SDK is loaded only for a bucket: it adds tens of MiB to every process that imports it.
 */
export async function createBlobStore(config: Config): Promise<BlobStore> {
  const s3 = config.storage.s3;
  if (!s3) return new FsBlobStore(config.storage.path);
  const [{ S3BlobStore }, { createS3Client }] = await Promise.all([import('./s3-blob-store.js'), import('./s3-client.js')]);
  return new S3BlobStore(s3, config.storage.path, createS3Client(s3));
}
