import type { ImageRequest } from './image-list.js';
import type { ImageOutcome, ImageWalker } from './image-walker.js';

/** What a person (or a log) follows while a prefetch runs. */
export interface PrefetchReporter {
  started?(image: string): void;
  /** More bytes became known for `image` (its manifests were read). */
  total?(image: string, bytes: number): void;
  progress?(image: string, bytes: number): void;
  finished?(outcome: ImageOutcome): void;
}

export interface PrefetchOptions {
  /** The audit events' puller. */
  user: string;
  platforms?: readonly string[];
  referrers: boolean;
  /** Images fetched at once; each fetches its blobs one after another. */
  concurrency: number;
  /** Asked before each image: true stops the run (images under way finish). */
  shouldStop?(): boolean;
}

export interface PrefetchSummary {
  images: number;
  cached: number;
  refused: number;
  failed: number;
  bytes: number;
  outcomes: ImageOutcome[];
}

/**
 * Fetches every image whole, `concurrency` at a time, in list order. Single-flight and the upstream clients'
 * connection limits apply beneath, as for any pull, so a prefetch shares the upstream with clients.
 */
export async function runPrefetch(
  walker: ImageWalker,
  requests: readonly ImageRequest[],
  opts: PrefetchOptions,
  reporter: PrefetchReporter = {},
): Promise<PrefetchSummary> {
  const outcomes: ImageOutcome[] = new Array(requests.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length && !opts.shouldStop?.()) {
      const i = next++;
      const { image, target, ref } = requests[i]!;
      reporter.started?.(image);
      const outcome = await walker.fetchWhole(target, ref, image, {
        user: opts.user,
        platforms: opts.platforms,
        referrers: opts.referrers,
        onTotal: (bytes) => reporter.total?.(image, bytes),
        onBytes: (bytes) => reporter.progress?.(image, bytes),
      });
      outcomes[i] = outcome;
      reporter.finished?.(outcome);
    }
  };
  const workers = Math.max(1, Math.min(opts.concurrency, requests.length));
  await Promise.all(Array.from({ length: workers }, worker));
  // Images never started (a stopped run) have no outcome.
  return summarize(outcomes.filter((o) => o !== undefined));
}

export function summarize(outcomes: ImageOutcome[]): PrefetchSummary {
  const count = (r: ImageOutcome['result']) => outcomes.filter((o) => o.result === r).length;
  return {
    images: outcomes.length,
    cached: count('cached'),
    refused: count('refused'),
    failed: count('failed'),
    bytes: outcomes.reduce((n, o) => n + o.bytes, 0),
    outcomes,
  };
}
