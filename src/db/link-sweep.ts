import type { Logger } from '../logger.js';
import type { CacheIndex } from './cache-index.js';

const SWEEP_EVERY_MS = 60 * 60_000;
/** storage.linkRetention by default. */
export const DEFAULT_LINK_RETENTION_MS = 30 * 86_400_000;

/**
 * Sweeps stale blob links now and hourly (storage.linkRetention): each sweep is one indexed range delete, so a
 * database that once took thousands of rows from a huge manifest gives them back within a retention period.
 */
export function scheduleLinkSweep(index: CacheIndex, retentionMs: number, log: Logger): { stop(): void } {
  let stopped = false;
  const run = async () => {
    try {
      const removed = await index.sweepLinks(retentionMs);
      if (removed > 0 && !stopped) log.info('removed stale blob links', { removed, retentionMs });
    } catch (err) {
      if (!stopped) log.warn('blob link sweep failed; retried within the hour', { error: String(err) });
    }
  };
  void run();
  const timer = setInterval(() => void run(), SWEEP_EVERY_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
