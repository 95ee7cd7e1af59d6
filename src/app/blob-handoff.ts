import type { Config } from '../config/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobHandoff } from '../store/blob-handoff.js';

/**
 * Who serves cached, allowed blobs besides this process, from the config: nobody (the proxy streams them), nginx
 * (`storage.offload`), or object storage (`storage.s3.redirect`).
 */
export function createBlobHandoff(_config: Config, _store: BlobStore): BlobHandoff | undefined {
  return undefined;
}
