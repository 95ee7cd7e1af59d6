import type { Config } from '../config/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobHandoff } from '../store/blob-handoff.js';
import { XAccelHandoff } from '../store/x-accel-handoff.js';

/**
 * Who serves cached, allowed blobs besides this process, from the config: nobody (the proxy streams them), nginx
 * (`storage.offload`), or object storage (`storage.s3.redirect`).
 */
export function createBlobHandoff(config: Config, store: BlobStore): BlobHandoff | undefined {
  switch (true) {
    case config.storage.offload !== undefined:
      return new XAccelHandoff(config.storage.offload.xAccelRedirect, store);
    default:
      return undefined;
  }
}
