import type { Config } from '../config/types.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import { ImageWalker } from '../prefetch/image-walker.js';
import { PrefetchSchedule } from '../prefetch/prefetch-schedule.js';
import { prefetchStatus, type PrefetchStatus } from '../prefetch/prefetch-status.js';
import type { BlobFetcher } from '../pull/blob-fetcher.js';
import type { ListingService } from '../pull/listing-service.js';
import type { PullService } from '../pull/pull-service.js';
import type { BlobStore } from '../store/blob-store.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

export interface PrefetchServices {
  pull: PullService;
  listing: ListingService;
  blobs: BlobFetcher;
  store: BlobStore;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  db: Database;
  log: Logger;
}

/**
 * The image walker (for the prefetch command and export) and, in the upkeep process only, the schedule of the
 * config's prefetch lists; the status of the lists is read from the database by any process.
 */
export function prefetching(config: Config, upkeep: boolean, s: PrefetchServices): {
  walker: ImageWalker;
  schedule: PrefetchSchedule | undefined;
  status: () => Promise<PrefetchStatus>;
  stop(): void;
} {
  const walker = new ImageWalker({ pull: s.pull, listing: s.listing, blobs: s.blobs, store: s.store });
  const schedule = upkeep && config.prefetch && config.prefetch.lists.length > 0
    ? new PrefetchSchedule(config.prefetch, { walker, listing: s.listing, upstreams: s.upstreams, defaultUpstream: config.defaultUpstream, store: s.db.prefetch, log: s.log }).start()
    : undefined;
  return {
    walker,
    schedule,
    status: () => prefetchStatus(config.prefetch, s.db.prefetch),
    stop: () => schedule?.stop(),
  };
}
