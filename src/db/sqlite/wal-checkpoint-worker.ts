import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The thread behind wal-checkpointer.ts: its own connection copies committed WAL frames into the database file
 * (a PASSIVE checkpoint: it never waits for, nor blocks, a reader or a writer) on a steady cadence, so the fsync
 * a checkpoint ends with happens here and not inside some request's commit.
 */
const { path, everyMs } = workerData as { path: string; everyMs: number };
const db = new Database(path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let reported = 0;
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch (err) {
    // A locked or busy database is retried on the next tick; say so at most once a minute.
    if (Date.now() - reported > 60_000) {
      reported = Date.now();
      parentPort!.postMessage({ error: (err as Error).message });
    }
  }
}, everyMs);
parentPort!.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  try {
    checkpoint.get();
  } finally {
    db.close();
    parentPort!.close();
  }
});
