import type { Digest } from '../oci/digest.js';
import type { BlobHandoff } from './blob-handoff.js';
import type { S3BlobStore } from './s3-blob-store.js';

/**
 * `storage.s3.redirect`: the client fetches an allowed blob straight from the bucket with a presigned GET URL
 * valid for `ttlMs`. The URL carries a signature for this one object and nothing else of the store's credentials.
 */
export function presignedRedirects(store: S3BlobStore, ttlMs: number): BlobHandoff {
  return {
    async handoff(digest: Digest) {
      return { kind: 'redirect', url: await store.presignGet(digest, ttlMs) };
    },
  };
}
