import type { PrefetchConfig } from '../config/types.js';
import type { PrefetchStore } from '../db/types.js';
import type { ImageOutcome } from './image-walker.js';
import type { StoredRun } from './prefetch-schedule.js';

export interface PrefetchListStatus {
  name: string;
  images: Array<{ repository: string; tags?: string[]; semver?: string }>;
  platforms: string[] | null;
  referrers: boolean;
  /** The last run's times and counts; null when the list has not run yet. */
  lastRun: { startedAt: string; finishedAt: string; images: number; cached: number; refused: number; failed: number; bytes: number } | null;
  /** When the list is next due: `interval` after its last run started; null until its first run (due at once). */
  nextRun: string | null;
  /** Each image's outcome in the last run, with its reasons. */
  outcomes: ImageOutcome[];
}

export interface PrefetchStatus {
  intervalMs: number | null;
  concurrency: number | null;
  lists: PrefetchListStatus[];
}

/** Every configured list with its last stored run and when it is next due; read by any process from the database. */
export async function prefetchStatus(config: PrefetchConfig | undefined, store: PrefetchStore): Promise<PrefetchStatus> {
  if (!config) return { intervalMs: null, concurrency: null, lists: [] };
  const runs = new Map((await store.lastRuns()).map((r) => [r.list, r]));
  return {
    intervalMs: config.intervalMs,
    concurrency: config.concurrency,
    lists: config.lists.map((list) => {
      const row = runs.get(list.name);
      const run = row ? (JSON.parse(row.result) as StoredRun) : undefined;
      const { outcomes = [], ...counts } = run ?? {};
      return {
        name: list.name,
        images: list.images,
        platforms: list.platforms ?? null,
        referrers: list.referrers,
        lastRun: row && run ? { startedAt: row.startedAt, finishedAt: row.finishedAt, ...(counts as Omit<StoredRun, 'outcomes'>) } : null,
        nextRun: row ? new Date(Date.parse(row.startedAt) + config.intervalMs).toISOString() : null,
        outcomes,
      };
    }),
  };
}
