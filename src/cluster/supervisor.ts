import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { BlobStore } from '../store/blob-store.js';
import { sweepTempFiles } from '../store/temp-sweeper.js';
import { isBusEnvelope, type BusEnvelope } from './bus.js';
import { isStartupFailure } from './startup.js';

/** The worker slot a process fills; slot 0 also runs the upkeep one process must do (trust refresh, retention). */
export const WORKER_SLOT_ENV = 'PORTCULLIS_WORKER_SLOT';

const DRAIN_TIMEOUT_MS = 30_000;
const RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that dies sooner than this after starting is crash-looping: wait longer before the next try. */
const HEALTHY_AFTER_MS = 10_000;
/** The CLI's exit code for a command that failed while running (EXIT.failed). */
const START_FAILED_EXIT = 4;

/**
 * The supervisor, as nginx's master: it serves nothing and shares nothing in memory with its workers. It
 * forks `count` identical workers on the shared listening port, restarts one that dies (and removes its
 * partial downloads), relays cluster-bus messages between them, and on SIGTERM/SIGINT drains every worker
 * before it exits. Anything workers must agree on goes through the database or the store's files.
 */
export async function superviseWorkers(config: Config, count: number, log: Logger, store: BlobStore): Promise<void> {
  const slots = new Map<number, { worker: Worker; startedAt: number; delay: number }>();
  let stopping = false;
  const acks = new Map<string, { origin: Worker; waiting: Set<number> }>();
  const collections = new Map<string, { origin: Worker; waiting: Set<number>; values: string[] }>();

  // Until every first worker listens, a worker that cannot start ends the start, as one process would.
  const starting = new Set<number>();
  const fork = (slot: number, delay = RESTART_DELAY_MS): void => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
    slots.set(slot, { worker, startedAt: Date.now(), delay });
    worker.once('listening', () => starting.delete(slot));
    worker.on('message', (raw: unknown) => {
      if (!isStartupFailure(raw)) return relay(worker, raw);
      if (starting.size === 0) return log.error('worker could not start', { slot, pid: worker.process.pid, error: raw.message });
      if (stopping) return;
      log.error('could not start', { error: raw.message });
      process.stderr.write(`portcullis: ${raw.message}\n`);
      void stop('start failed', START_FAILED_EXIT);
    });
    worker.on('exit', (code, signal) => {
      settleAcksOf(worker);
      // A worker killed mid-download could not remove its partial files itself.
      sweepTempFiles(store, log);
      if (stopping) return;
      const entry = slots.get(slot);
      const ranFor = Date.now() - (entry?.startedAt ?? 0);
      const next = ranFor < HEALTHY_AFTER_MS ? Math.min((entry?.delay ?? RESTART_DELAY_MS) * 2, MAX_RESTART_DELAY_MS) : RESTART_DELAY_MS;
      log.error('worker exited; starting another', { slot, pid: worker.process.pid, code, signal, restartInMs: next });
      setTimeout(() => {
        if (!stopping) fork(slot, next);
      }, next).unref();
    });
  };

  /** A broadcast from one worker is applied by every live worker; the origin hears back once all have. */
  const relay = (from: Worker, raw: unknown): void => {
    if (!isBusEnvelope(raw)) return;
    if (raw.bus === 'broadcast') {
      const live = [...slots.values()].map((s) => s.worker).filter((w) => w.isConnected());
      const key = `${from.id}:${raw.id}`;
      acks.set(key, { origin: from, waiting: new Set(live.map((w) => w.id)) });
      for (const w of live) w.send({ bus: 'apply', id: raw.id, origin: from.id, message: raw.message } satisfies BusEnvelope);
    } else if (raw.bus === 'gather') {
      const live = [...slots.values()].map((s) => s.worker).filter((w) => w.isConnected());
      const key = `${from.id}:${raw.id}`;
      collections.set(key, { origin: from, waiting: new Set(live.map((w) => w.id)), values: [] });
      for (const w of live) w.send({ bus: 'collect', id: raw.id, origin: from.id, kind: raw.kind } satisfies BusEnvelope);
    } else if (raw.bus === 'collected') {
      const key = `${raw.origin}:${raw.id}`;
      const entry = collections.get(key);
      if (!entry) return;
      entry.waiting.delete(from.id);
      if (raw.value !== null) entry.values.push(raw.value);
      if (entry.waiting.size === 0) deliver(key);
    } else if (raw.bus === 'applied') {
      const key = `${raw.origin}:${raw.id}`;
      const entry = acks.get(key);
      entry?.waiting.delete(from.id);
      if (entry && entry.waiting.size === 0) finish(key);
    }
  };
  const finish = (key: string): void => {
    const entry = acks.get(key);
    if (!entry) return;
    acks.delete(key);
    if (entry.origin.isConnected()) entry.origin.send({ bus: 'done', id: Number(key.split(':')[1]) } satisfies BusEnvelope);
  };
  const deliver = (key: string): void => {
    const entry = collections.get(key);
    if (!entry) return;
    collections.delete(key);
    if (entry.origin.isConnected()) entry.origin.send({ bus: 'gathered', id: Number(key.split(':')[1]), values: entry.values } satisfies BusEnvelope);
  };
  /** A worker that died cannot answer: stop waiting for it. */
  const settleAcksOf = (gone: Worker): void => {
    for (const [key, entry] of acks) {
      entry.waiting.delete(gone.id);
      if (entry.waiting.size === 0) finish(key);
    }
    for (const [key, entry] of collections) {
      entry.waiting.delete(gone.id);
      if (entry.waiting.size === 0) deliver(key);
    }
  };

  const stop = async (reason: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (exitCode === 0) log.info('signal received; draining workers', { signal: reason, workers: slots.size });
    const exits = [...slots.values()].map(
      ({ worker }) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const timer = setTimeout(() => worker.process.kill('SIGKILL'), DRAIN_TIMEOUT_MS);
          worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    if (exitCode === 0) log.info('stopped');
    process.exit(exitCode);
  };
  // Not `once`: a Ctrl-C under `npm start` arrives twice (from the terminal and forwarded by npm), and a
  // second signal must not kill the supervisor mid-drain.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  log.info('starting workers', { workers: count, config: config.source, address: config.listen.host, port: config.listen.port });
  for (let slot = 0; slot < count; slot++) {
    starting.add(slot);
    fork(slot);
  }
}
