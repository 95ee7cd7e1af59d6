import type { Database } from '../db/types.js';
import type { Metrics } from '../metrics.js';
import type { PolicySource } from '../policy/types.js';
import type { BlobFetcher } from '../pull/blob-fetcher.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { packageVersion } from '../version.js';

export interface GaugeSources {
  db: Database;
  blobs: BlobFetcher;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  policy: PolicySource;
  maxSizeBytes: number | undefined;
}

/** The gauges read at scrape time from the services that hold the numbers. */
export function registerGauges(metrics: Metrics, g: GaugeSources): void {
  metrics.gauge('portcullis_blob_downloads_in_flight', 'Upstream blob downloads in progress', () => g.blobs.active);
  metrics.gauge('portcullis_upstream_down', '1 while an upstream is marked down after repeated failures', () =>
    [...g.upstreams.values()].map((u) => ({ labels: { upstream: u.name }, value: u.breaker.isOpen ? 1 : 0 })),
  ['upstream']);
  metrics.sharedGauge('portcullis_build_info', 'Always 1; the labels say which build runs', 'first', () => 1, { version: packageVersion(), node: process.version });
  metrics.sharedGauge('portcullis_store_bytes', 'Bytes of blobs in the cache', 'first', () => g.db.cache.totalBlobBytes());
  if (g.maxSizeBytes !== undefined) {
    const max = g.maxSizeBytes;
    metrics.sharedGauge('portcullis_store_max_bytes', 'storage.maxSize: eviction keeps the cache below it', 'first', () => max);
  }
  // During a change workers may briefly differ: the lowest is the version every worker applies.
  metrics.sharedGauge('portcullis_policy_active_version', 'The policy version in force', 'min', () => g.policy.current().version);
}
