import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/types.js';
import cluster from 'node:cluster';
import { createApp, type App, type AppOptions } from './app.js';
import { createLogger } from './logger.js';
import { WorkerBus } from './cluster/bus.js';
import { superviseWorkers, WORKER_SLOT_ENV } from './cluster/supervisor.js';
import { prepareSharedState } from './cluster/prepare.js';
import { humanStartupLine } from './startup-line.js';
import { limitConnectionsPerClient } from './http/connection-limit.js';
import { trustedProxies } from './http/client-address.js';
import { reportStartupFailure } from './cluster/startup.js';
import { listenError } from './listen-error.js';
import { exitWhenSupervisorGone } from './cluster/supervisor-watch.js';
import { createBlobStore } from './store/create-blob-store.js';
import { discardOwnTempFilesOnExit, sweepTempFilesPeriodically } from './store/temp-sweeper.js';

export interface Running {
  app: App;
  server: Server;
  port: number;
  stop(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;
/** The CLI's exit code for a command that failed while running (EXIT.failed). */
const START_FAILED_EXIT = 4;

/** Starts the proxy on the configured address. Resolves once it accepts connections. */
export async function startServer(config: Config, opts: AppOptions = {}): Promise<Running> {
  const app = await createApp(config, opts);
  // Slow-header clients (slowloris) are cut off, and so is a request (headers and body) that has not fully
  // arrived within requestTimeout; responses, such as long blob downloads, are not limited. Node checks
  // these deadlines only every connectionsCheckingInterval (30 s by default), so check at a quarter of them.
  const headersTimeout = config.server?.headersTimeoutMs ?? 15_000;
  const requestTimeout = config.server?.requestTimeoutMs ?? 30_000;
  const limits = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(250, Math.floor(headersTimeout / 4)) };
  const server: Server = config.tls
    ? createHttpsServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key), ...limits }, app.handler)
    : createHttpServer(limits, app.handler);
  server.headersTimeout = headersTimeout;
  server.requestTimeout = requestTimeout;
  server.keepAliveTimeout = 30_000;
  const maxPerClient = config.server?.maxConnectionsPerClient ?? 128;
  let warnedAt = 0;
  limitConnectionsPerClient(server, maxPerClient, trustedProxies(config.server?.trustedProxies), (client) => {
    // One line per ten seconds at most: the refusals themselves may be a flood.
    if (Date.now() - warnedAt < 10_000) return;
    warnedAt = Date.now();
    app.log.warn('refusing connections over the limit per client address', { client, limit: maxPerClient });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, config.listen.host, config.listen.port)));
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  app.log.info('serving', { address: config.listen.host, port, tls: Boolean(config.tls), config: config.source });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      app.log.info('shutting down');
      // Live streams never finish by themselves: end them so their connections close with the idle ones.
      app.closeStreams();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(timer);
      await app.close();
      app.log.info('stopped');
    })());
  return { app, server, port, stop };
}

/**
 * Runs until SIGTERM or SIGINT, then stops cleanly. With `server.workers` above 1 this process becomes the
 * supervisor: it prepares what workers share (migrations, the config file's policies, the store) once and
 * forks the workers, each of which runs this same function as a worker.
 */
export async function serve(config: Config): Promise<void> {
  const workers = config.server?.workers ?? 1;
  const store = await createBlobStore(config);
  discardOwnTempFilesOnExit(store);
  if (workers > 1 && cluster.isPrimary) {
    const log = createLogger(config.log.level).child({ role: 'supervisor' });
    await prepareSharedState(config, log);
    sweepTempFilesPeriodically(store, log);
    return superviseWorkers(config, workers, log, store);
  }
  const slot = cluster.isWorker ? Number(process.env[WORKER_SLOT_ENV] ?? 0) : undefined;
  const log = slot === undefined ? undefined : createLogger(config.log.level).child({ worker: slot, pid: process.pid });
  // Watched from the start: a supervisor may die while its workers are still starting.
  if (slot !== undefined) exitWhenSupervisorGone((how) => log?.error('supervisor gone; exiting', { how }));
  const starting = startServer(config, {
    log,
    bus: slot === undefined ? undefined : new WorkerBus(),
    worker: slot,
    // One process does the upkeep: adopting the config file (done by the supervisor), trust refresh, retention.
    maintenance: slot === undefined || slot === 0,
  });
  const running = slot === undefined ? await starting : await starting.catch((err) => reportStartupFailure(err, START_FAILED_EXIT));
  if (slot === undefined) sweepTempFilesPeriodically(store, running.app.log);
  // One human line for whoever started it; with several workers, the first says it for all.
  if (slot === undefined || slot === 0) process.stderr.write(`${humanStartupLine(running)}\n`);
  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) return; // a repeated signal (npm forwards the terminal's Ctrl-C too) must not cut the drain
    signalled = true;
    running.app.log.info('signal received', { signal });
    running.stop().then(
      () => process.exit(0),
      (err) => {
        running.app.log.error('shutdown failed', { error: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
