import type { Express } from 'express';
import { chainAlarm } from './audit/chain-alarm.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Config } from './config/types.js';
import { openDatabase } from './db/open-database.js';
import type { TrustChanges } from './db/trust-changes.js';
import type { Database } from './db/types.js';
import { CacheIndex } from './db/cache-index.js';
import type { PolicyVersions } from './db/policy-versions.js';
import type { BlobStore } from './store/blob-store.js';
import { createBlobStore } from './store/create-blob-store.js';
import { AuditLog } from './audit/audit-log.js';
import { loadSigningKey } from './audit/checkpoint.js';
import { ManifestFetcher } from './pull/manifest-fetcher.js';
import { BlobFetcher } from './pull/blob-fetcher.js';
import { BlobPrefetch } from './pull/blob-prefetch.js';
import { createDecisionRoom } from './decide/decision-room.js';
import { createArtifactSource } from './pull/artifact-source.js';
import type { PolicySource } from './policy/types.js';
import { PullService } from './pull/pull-service.js';
import { ListingService } from './pull/listing-service.js';
import { CachePurge } from './pull/cache-purge.js';
import { createEvidenceGatherer } from './verify/gatherer.js';
import { Metrics } from './metrics.js';
import { createLogger, type Logger } from './logger.js';
import { TokenRegistry } from './auth/token-registry.js';
import { IssuedTokens } from './auth/issued-tokens.js';
import { FailureLimiter } from './auth/failure-limiter.js';
import { Authenticator } from './auth/authenticator.js';
import { WorkloadVerifier } from './auth/workload-identity.js';
import { createImageEvaluator, type ImageEvaluator } from './api/image-evaluator.js';
import type { ClusterBus } from './cluster/bus.js';
import { upstreamClients } from './app/upstream-clients.js';
import { storedState } from './app/stored-state.js';
import { createBlobHandoff } from './app/blob-handoff.js';
import { trustRefresher } from './app/trust-refresher.js';
import { attachBlobHooks } from './app/blob-hooks.js';
import { clusterBus } from './app/cluster-bus.js';
import { registerGauges } from './app/gauges.js';
import { maintenance } from './app/maintenance.js';
import { v2Subsystem } from './app/v2-subsystem.js';
import { adminApi } from './app/admin-api.js';
import { httpFront } from './app/http-front.js';
import { consoleSso } from './app/console-sso.js';
import { prefetching } from './app/prefetching.js';
import type { ImageWalker } from './prefetch/image-walker.js';
import type { UpstreamClient } from './upstream/upstream-client.js';
import { Deliverer } from './notify/deliverer.js';
import type { Target } from './upstream/target.js';
import type { ArtifactSource } from './verify/types.js';

export interface App {
  express: Express;
  /** What the server runs: /v2 straight to the pull pipeline, everything else through express. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  config: Config;
  /** The database (SQLite or PostgreSQL); nothing here depends on which. */
  db: Database;
  store: BlobStore;
  audit: AuditLog;
  metrics: Metrics;
  log: Logger;
  blobs: BlobFetcher;
  policy: PolicySource;
  /** Policy versions in the database (the default policy source). */
  policies: PolicyVersions;
  /** Revocations and exceptions in force, kept current from the database. */
  trustChanges: TrustChanges;
  /** The decision a pull of an image would get now, serving nothing. */
  evaluate: ImageEvaluator;
  /** The fingerprint cached evidence is kept under (the trust material in use). */
  fingerprint(): string;
  /** Purges cached content (this process's memory, the database and the store), audited. */
  purge: CachePurge;
  /** The configured upstreams by name. */
  upstreams: ReadonlyMap<string, UpstreamClient>;
  /** Fetches one image whole through the pull path, judged and audited (prefetch, export). */
  walker: ImageWalker;
  /** What export and import drive: the pull orchestrator, the cache index, the upstreams and signature artifacts. */
  transfer: TransferServices;
  /** Ends the live audit streams (server shutdown: they would hold their connections open). */
  closeStreams(): void;
  /** Ends live streams, stops upstream connections and closes the database. */
  close(): Promise<void>;
}

export interface TransferServices {
  pull: PullService;
  index: CacheIndex;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  artifacts: (target: Target) => ArtifactSource;
}

export interface AppOptions {
  log?: Logger;
  policy?: (db: Database, config: Config) => PolicySource;
  /**
   * Start-up upkeep (default true): adopt the config file's policies when they changed, and run audit
   * retention now and daily. One-shot CLI commands turn it off and use the stored policy as it is.
   */
  maintenance?: boolean;
  /** How this process tells its sibling workers about a change (default: a single process, itself). */
  bus?: ClusterBus;
  /** The worker slot under a supervisor; absent for a single process. */
  worker?: number;
  /** The built web console served at /ui/ (default: dist/ui of this installation). */
  consoleDir?: string;
}

/**
 * Composes every service from a validated config, once its database is open and migrated. Does not listen:
 * main.ts and tests do.
 */
export async function createApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const upkeep = opts.maintenance !== false;
  const log = opts.log ?? createLogger(config.log.level);
  const metrics = new Metrics(opts.worker === undefined ? {} : { worker: String(opts.worker) });
  const store = await createBlobStore(config);
  const { discardedTempFiles } = await store.open();
  if (discardedTempFiles > 0) log.info('discarded partial downloads from an earlier run', { files: discardedTempFiles });
  const db = await openDatabase(config.database, (err) => log.warn('database connection lost; reconnecting on next use', { error: err.message }));
  const dbUpkeep = upkeep ? db.startUpkeep?.(log) : undefined;
  const index = new CacheIndex(db.cache);
  const audit = new AuditLog(db.audit);
  const chainChecked = chainAlarm(audit, metrics, log);
  const upstreams = upstreamClients(config, log, metrics);
  const { policies, trustChanges } = await storedState(config, db, log, upkeep);
  const policy = opts.policy ? opts.policy(db, config) : policies;
  const trust = trustRefresher(config, log, policy, upkeep);
  const gatherer = createEvidenceGatherer(trust, undefined, config.trust.referrers);
  const manifests = new ManifestFetcher(index, store, log, config.pull?.maxLayers);
  const blobs = new BlobFetcher(store, index, db.leases);
  attachBlobHooks(config, blobs, { db, store, audit, metrics, log });
  const room = createDecisionRoom({
    policy, trust: trustChanges, index, gatherer, verifyTtlMs: config.trust.verifyTtlMs, leases: db.leases, tags: db.tags,
    upstreams, manifests, sources: (t) => createArtifactSource(t, manifests, store, index), maxArtifactBytes: config.pull?.maxArtifactBytes, log,
    onGathered: (seconds) => metrics.verifySeconds.observe({}, seconds),
    knownExploitedFile: config.trust.knownExploitedFile,
  });
  const pull = new PullService({
    index, store, manifests, blobs, room, audit, log, handoff: createBlobHandoff(config, store),
    prefetch: config.pull?.prefetchBlobs ? new BlobPrefetch(store, blobs, log) : undefined,
    observer: {
      onDecision: (kind, d) => metrics.decisions.inc({ kind, outcome: d.outcome, rule: d.rule ?? '(none)' }),
      onCache: (kind, hit) => metrics.cache.inc({ kind, result: hit ? 'hit' : 'miss' }),
    },
  });
  const { bus, scrape } = clusterBus(opts.bus, {
    log, metrics, policies, trustChanges, trust,
    forget(digests) {
      room.forget(digests);
      for (const d of digests) manifests.forget(d);
    },
  });
  const listing = new ListingService({ index, store, manifests, pull, audit, log });
  registerGauges(metrics, { db, blobs, upstreams, policy, maxSizeBytes: config.storage.maxSizeBytes });
  const evaluate = createImageEvaluator(pull, upstreams, config.defaultUpstream);
  const issued = await IssuedTokens.shared(db.keys);
  const workloads = config.auth.oidcIssuers ? new WorkloadVerifier(config.auth.oidcIssuers) : undefined;
  const auth = new Authenticator(new TokenRegistry(config.auth.tokens), issued, new FailureLimiter(db.failures), audit, log, workloads);
  const checkpointKey = config.audit.checkpoint ? loadSigningKey(readFileSync(config.audit.checkpoint.key)) : undefined;
  const upkeepTimers = maintenance(config, upkeep, { audit: db.audit, index, log, metrics, checkpointKey, chainChecked });
  // Webhooks are sent by the upkeep process; claims in the database keep replicas from sending one twice.
  const notifier = upkeep && config.notifications?.webhooks.length
    ? await new Deliverer(config.notifications, { store: db.notifications, audit: db.audit, log, metrics }).start()
    : undefined;
  const v2 = v2Subsystem(config, { pull, listing, auth, audit, upstreams, metrics, log });
  const prefetch = prefetching(config, upkeep, { pull, listing, blobs, store, upstreams, db, log });
  const purge = new CachePurge({ index, store, manifests, room, audit, upstreams: new Set(upstreams.keys()) });
  const sso = consoleSso(config, db, audit, log);
  const admin = adminApi(config, {
    db, sessions: sso?.sessions, policies, trustChanges, auth, evaluate, purge, bus, metrics, log, checkpointKey, chainChecked,
    upstreamNames: new Set(upstreams.keys()),
    fingerprint: () => gatherer.fingerprint,
    prefetchStatus: prefetch.status,
  });

  const front = httpFront(config, {
    v2: v2.handle, api: admin.router, auth, upstreams, db, store, scrape, log, consoleDir: opts.consoleDir, sso,
  });

  return {
    express: front.express,
    handler: front.handler,
    config,
    db,
    store,
    audit,
    metrics,
    log,
    blobs,
    policy,
    policies,
    trustChanges,
    evaluate,
    fingerprint: () => gatherer.fingerprint,
    purge,
    upstreams,
    walker: prefetch.walker,
    transfer: { pull, index, upstreams, artifacts: (t) => createArtifactSource(t, manifests, store, index) },
    closeStreams: () => admin.closeStreams(),
    async close() {
      admin.closeStreams();
      upkeepTimers.stopTimers();
      prefetch.stop();
      policies.stop();
      trustChanges.stop();
      v2.close();
      sso?.refusals.close();
      trust.stop();
      await Promise.all([...upstreams.values()].map((u) => u.close().catch(() => {})));
      await notifier?.stop();
      // Refusals counted as suppressed are written on close; let every pending append finish first.
      await audit.drain();
      // The last checkpoint covers every event this process wrote.
      await upkeepTimers.stopCheckpoints();
      await dbUpkeep?.stop();
      await db.close();
    },
  };
}
