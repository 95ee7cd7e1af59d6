import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../logger.js';

/** How often the background connection checkpoints: the WAL stays small without a request ever paying for it. */
export const CHECKPOINT_EVERY_MS = 200;

export interface BackgroundCheckpoints {
  stop(): Promise<void>;
}

/**
 * WAL checkpoints in a worker thread. A checkpoint ends in an fsync of the database file; run by SQLite's
 * automatic checkpoint it happens inside whichever commit crossed the threshold, on that process's event loop,
 * stalling every request it serves for as long as the disk takes. Serving connections therefore checkpoint
 * only past a high cap (connection.ts), which bounds the WAL should this thread ever stop.
 */
export function startWalCheckpoints(path: string, log: Logger, everyMs = CHECKPOINT_EVERY_MS): BackgroundCheckpoints {
  const worker = new Worker(workerFile(), { workerData: { path, everyMs } });
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: { error?: string }) => {
    if (m.error) log.warn('background WAL checkpoint failed; retrying', { error: m.error });
  });
  worker.on('error', (err) => log.error('the background WAL checkpointer stopped; commits checkpoint past the cap', { error: err.message }));
  void exited.then(() => {
    if (!stopping) log.warn('the background WAL checkpointer exited; commits checkpoint past the cap');
  });
  // After the listeners: adding a 'message' listener refs the thread again, and it must not keep a process
  // alive that is otherwise done (a start-up that failed, a one-shot command).
  worker.unref();
  return {
    async stop() {
      if (stopping) return exited;
      stopping = true;
      worker.postMessage('stop');
      // A thread wedged on the disk must not hold up shutdown for long.
      const timer = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The compiled worker beside this module; run from sources (tests), the build's copy. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const file = here.endsWith('.ts')
    ? fileURLToPath(new URL('../../../dist/db/sqlite/wal-checkpoint-worker.js', import.meta.url))
    : here.replace(/wal-checkpointer\.js$/, 'wal-checkpoint-worker.js');
  if (!existsSync(file)) throw new Error(`the WAL checkpointer ${file} is missing (run the build)`);
  return file;
}
