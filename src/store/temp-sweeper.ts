import type { Logger } from '../logger.js';
import type { BlobStore } from './blob-store.js';

/** How often the store's temp folder is checked for downloads of processes that died. A readdir: cheap. */
export const TEMP_SWEEP_INTERVAL_MS = 5_000;

/**
 * Partial downloads are removed whenever their process dies, not only when the proxy starts: a process
 * removes its own as it exits (however it exits, short of SIGKILL), and the process that does the upkeep
 * sweeps those of processes that died without a chance to (killed, or orphaned workers that died after
 * a new proxy had already started and looked at the store).
 */
export function discardOwnTempFilesOnExit(store: BlobStore): void {
  process.once('exit', () => {
    try {
      store.discardOwnTempFiles();
    } catch {
      // exiting anyway; the next sweep takes them
    }
  });
}

/** Sweeps now; returns how many files it removed, logging them. Never throws. */
export function sweepTempFiles(store: BlobStore, log: Logger): number {
  try {
    const files = store.discardAbandonedTempFiles();
    if (files > 0) log.info('discarded partial downloads of processes that died', { files });
    return files;
  } catch (err) {
    log.warn('could not sweep the store temp folder', { error: (err as Error).message });
    return 0;
  }
}

export function sweepTempFilesPeriodically(store: BlobStore, log: Logger, everyMs = TEMP_SWEEP_INTERVAL_MS): { stop(): void } {
  const timer = setInterval(() => sweepTempFiles(store, log), everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
