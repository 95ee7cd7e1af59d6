import type { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config/types.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { OciError } from '../oci/errors.js';
import type { BlobFetcher } from '../pull/blob-fetcher.js';
import type { BlobStore } from '../store/blob-store.js';
import { Evictor } from '../store/eviction.js';

export interface BlobHookServices {
  db: Database;
  store: BlobStore;
  audit: AuditLog;
  metrics: Metrics;
  log: Logger;
}

/** What follows an upstream blob download: byte counts, eviction when the cache has a size limit, audited rejects. */
export function attachBlobHooks(config: Config, blobs: BlobFetcher, s: BlobHookServices): void {
  const { log, audit, metrics } = s;
  blobs.onFetched = (upstream, bytes) => metrics.bytesFetched.inc({ upstream }, bytes);
  if (config.storage.maxSizeBytes !== undefined) {
    const evictor = new Evictor(s.db.cache, s.store, { maxSizeBytes: config.storage.maxSizeBytes, protectMs: config.storage.protectRecentMs }, log);
    blobs.onCommitted = () => {
      evictor.schedule().catch((err) => log.error('eviction failed', { error: String(err) }));
    };
  }
  // A rejected upstream blob (wrong digest, short body, no disk) is recorded even though a client may have
  // been streaming it: the audit log shows why the pull broke off.
  blobs.onFailed = (target, digest, error) => {
    log.warn('upstream blob rejected', { upstream: target.upstream.name, repository: target.repository, digest, error: error.message });
    audit
      .append({
        kind: 'upstream.blob.rejected', upstream: target.upstream.name, repository: target.canonical, reference: digest,
        digest, cacheHit: false, status: error instanceof OciError ? error.status : 502, reasons: [error.message],
      })
      .catch((err: unknown) => log.error('audit append failed', { error: String(err) }));
  };
}
