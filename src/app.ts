import express, { type Express } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from './config/types.js';
import { knownRoots } from './config/load.js';
import { openDatabase } from './db/open-database.js';
import type { Database } from './db/types.js';
import { CacheIndex } from './db/cache-index.js';
import { BlobStore } from './store/blob-store.js';
import { Evictor } from './store/eviction.js';
import { AuditLog } from './audit/audit-log.js';
import { UpstreamClient } from './upstream/upstream-client.js';
import { ManifestFetcher } from './pull/manifest-fetcher.js';
import { BlobFetcher } from './pull/blob-fetcher.js';
import { createDecisionRoom } from './decide/decision-room.js';
import { createArtifactSource } from './pull/artifact-source.js';
import { RefusalAudit } from './audit/refusal-audit.js';
import { PullService } from './pull/pull-service.js';
import { ListingService } from './pull/listing-service.js';
import { CachePurge } from './pull/cache-purge.js';
import { createEvidenceGatherer } from './verify/gatherer.js';
import { RefreshingTrust } from './verify/trust-refresh.js';
import { dirname, join } from 'node:path';
import type { PolicyRule, PolicySource } from './policy/types.js';
import { v2Handler } from './http/v2-routes.js';
import { opsRoutes } from './http/ops-routes.js';
import { consoleRoutes } from './http/console-routes.js';
import { Metrics, mergeSnapshots } from './metrics.js';
import { createLogger, type Logger } from './logger.js';
import { PolicyVersions } from './db/policy-versions.js';
import { TrustChanges } from './db/trust-changes.js';
import { scheduleRetention } from './audit/retention.js';
import { DEFAULT_LINK_RETENTION_MS, scheduleLinkSweep } from './db/link-sweep.js';
import { Checkpointer, checkpointKeyId } from './audit/checkpointer.js';
import { loadSigningKey } from './audit/checkpoint.js';
import { readFileSync } from 'node:fs';
import { TokenRegistry } from './auth/token-registry.js';
import { IssuedTokens } from './auth/issued-tokens.js';
import { FailureLimiter } from './auth/failure-limiter.js';
import { Authenticator } from './auth/authenticator.js';
import { pullAuth, tokenEndpoint } from './auth/pull-auth.js';
import { apiRouter } from './api/api-router.js';
import { LiveStreams } from './api/audit-live.js';
import { requestLog } from './http/request-log.js';
import { attachClient, trustedProxies } from './http/client-address.js';
import { bodyLimits, closeAfterBody, notFound } from './http/request-limits.js';
import { assignRequestId, isV2, v2Pipeline } from './http/v2-pipeline.js';
import { createImageEvaluator, type ImageEvaluator } from './api/image-evaluator.js';
import { OciError } from './oci/errors.js';
import { LocalBus, type ClusterBus } from './cluster/bus.js';
import { logStartup } from './startup-report.js';
import { packageVersion } from './version.js';

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
  /** The decision a pull of an image would get now, serving nothing. */
  evaluate: ImageEvaluator;
  /** Purges cached content (this process's memory, the database and the store), audited. */
  purge: CachePurge;
  /** Ends the live audit streams (server shutdown: they would hold their connections open). */
  closeStreams(): void;
  /** Ends live streams, stops upstream connections and closes the database. */
  close(): Promise<void>;
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
  const log = opts.log ?? createLogger(config.log.level);
  const metrics = new Metrics(opts.worker === undefined ? {} : { worker: String(opts.worker) });
  const store = new BlobStore(config.storage.path);
  const { discardedTempFiles } = store.open();
  if (discardedTempFiles > 0) log.info('discarded partial downloads from an earlier run', { files: discardedTempFiles });
  const db = await openDatabase(config.database, (err) => log.warn('database connection lost; reconnecting on next use', { error: err.message }));
  const index = new CacheIndex(db.cache);
  const audit = new AuditLog(db.audit);
  const upstreams = new Map(
    config.upstreams.map((u) => [
      u.name,
      new UpstreamClient(u, log.child({ upstream: u.name }), {
        onRequest(name, method, status, seconds) {
          metrics.upstreamRequests.inc({ upstream: name, method, status: String(status) });
          metrics.upstreamLatency.observe({ upstream: name }, seconds);
          if (status === 'error' || status === 429 || (typeof status === 'number' && status >= 500)) {
            metrics.upstreamErrors.inc({ upstream: name });
          }
        },
      }),
    ]),
  );
  const policies = new PolicyVersions(db.policies);
  if (opts.maintenance !== false || !(await policies.hasVersions())) await policies.syncFromConfig(config.policies, config.source);
  else await policies.load();
  policies.watch();
  if (opts.maintenance !== false) await logStartup(log, config, policies);
  const trustChanges = new TrustChanges(db.trust);
  await trustChanges.load();
  trustChanges.watch(opts.maintenance !== false);
  const policy = opts.policy ? opts.policy(db, config) : policies;
  // The refreshed trusted root is kept beside the SQLite file, or beside the store when the database is a server.
  const trustDir = join(dirname(config.database.path ?? config.storage.path), 'trust');
  const trust = new RefreshingTrust(config.trust, trustDir, log, () =>
    policy.current().rules.some(needsTrustedRoot),
  );
  if (opts.maintenance !== false) trust.start();
  const gatherer = createEvidenceGatherer(trust, undefined, config.trust.referrers);
  const manifests = new ManifestFetcher(index, store, log, config.pull?.maxLayers);
  const blobs = new BlobFetcher(store, index, db.leases);
  blobs.onFetched = (upstream, bytes) => metrics.bytesFetched.inc({ upstream }, bytes);
  if (config.storage.maxSizeBytes !== undefined) {
    const evictor = new Evictor(db.cache, store, { maxSizeBytes: config.storage.maxSizeBytes, protectMs: config.storage.protectRecentMs }, log);
    blobs.onCommitted = () => {
      evictor.schedule().catch((err) => log.error('eviction failed', { error: String(err) }));
    };
  }
  // A rejected upstream blob (wrong digest, short body, no disk) is recorded even though a client may have
  // been streaming it: the audit log shows why the pull broke off.
  blobs.onFailed = (target, digest, error) => {
    log.warn('upstream blob rejected', { upstream: target.upstream.name, repository: target.repository, digest, error: error.message });
    audit
      .append({
        kind: 'upstream.blob.rejected', upstream: target.upstream.name, repository: target.canonical, reference: digest,
        digest, cacheHit: false, status: error instanceof OciError ? error.status : 502, reasons: [error.message],
      })
      .catch((err: unknown) => log.error('audit append failed', { error: String(err) }));
  };
  const room = createDecisionRoom({
    policy, trust: trustChanges, index, gatherer, verifyTtlMs: config.trust.verifyTtlMs, leases: db.leases, tags: db.tags,
    upstreams, manifests, sources: (t) => createArtifactSource(t, manifests, store, index), maxArtifactBytes: config.pull?.maxArtifactBytes, log,
    onGathered: (seconds) => metrics.verifySeconds.observe({}, seconds),
  });
  const pull = new PullService({
    index, store, manifests, blobs, room, audit, log,
    observer: {
      onDecision: (kind, d) => metrics.decisions.inc({ kind, outcome: d.outcome, rule: d.rule ?? '(none)' }),
      onCache: (kind, hit) => metrics.cache.inc({ kind, result: hit ? 'hit' : 'miss' }),
    },
  });
  // What one worker changes, every worker applies before the change is acknowledged.
  const bus = opts.bus ?? new LocalBus();
  bus.onMessage((message) => {
    if (message.type === 'policy.changed') return policies.invalidate().catch((err: unknown) => log.warn('policy reload failed; the watch retries', { error: String(err) }));
    else if (message.type === 'cache.purged') {
      room.forget(message.digests);
      for (const d of message.digests) manifests.forget(d);
    } else if (message.type === 'trust.refreshed') trust.reload();
    else if (message.type === 'trust.changed') return trustChanges.invalidate().catch((err: unknown) => log.warn('trust reload failed; the watch retries', { error: String(err) }));
  });
  trust.onRefreshed = () => void bus.broadcast({ type: 'trust.refreshed' });
  const listing = new ListingService({ index, store, manifests, pull, audit, log });
  const refusals = new RefusalAudit(audit, log, config.server?.workers ?? 1);
  metrics.gauge('portcullis_blob_downloads_in_flight', 'Upstream blob downloads in progress', () => blobs.active);
  metrics.gauge('portcullis_upstream_down', '1 while an upstream is marked down after repeated failures', () =>
    [...upstreams.values()].map((u) => ({ labels: { upstream: u.name }, value: u.breaker.isOpen ? 1 : 0 })),
  ['upstream']);
  metrics.sharedGauge('portcullis_build_info', 'Always 1; the labels say which build runs', 'first', () => 1, { version: packageVersion(), node: process.version });
  metrics.sharedGauge('portcullis_store_bytes', 'Bytes of blobs in the cache', 'first', () => db.cache.totalBlobBytes());
  if (config.storage.maxSizeBytes !== undefined) {
    const max = config.storage.maxSizeBytes;
    metrics.sharedGauge('portcullis_store_max_bytes', 'storage.maxSize: eviction keeps the cache below it', 'first', () => max);
  }
  // During a change workers may briefly differ: the lowest is the version every worker applies.
  metrics.sharedGauge('portcullis_policy_active_version', 'The policy version in force', 'min', () => policy.current().version);
  const evaluate = createImageEvaluator(pull, upstreams, config.defaultUpstream);
  const issued = await IssuedTokens.shared(db.keys);
  const auth = new Authenticator(new TokenRegistry(config.auth.tokens), issued, new FailureLimiter(db.failures), audit, log);
  const retention = opts.maintenance !== false && config.audit.retainDays !== undefined
    ? scheduleRetention(db.audit, config.audit.retainDays, log)
    : undefined;
  const linkSweep = opts.maintenance !== false ? scheduleLinkSweep(index, config.storage.linkRetentionMs ?? DEFAULT_LINK_RETENTION_MS, log) : undefined;
  // Signed checkpoints of the chain head, written by the upkeep process only.
  const checkpointCfg = config.audit.checkpoint;
  const checkpointKey = checkpointCfg ? loadSigningKey(readFileSync(checkpointCfg.key)) : undefined;
  const checkpointer = opts.maintenance !== false && checkpointCfg && checkpointKey
    ? new Checkpointer(db.audit, { key: checkpointKey, file: checkpointCfg.file, everyMs: checkpointCfg.everyMs, everyEvents: checkpointCfg.everyEvents }, log, (intact) => metrics.chainChecked(intact)).start()
    : undefined;
  if (checkpointer && checkpointKey) log.info('writing audit checkpoints', { keyId: checkpointKeyId(checkpointKey), file: checkpointCfg?.file ?? null });

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  const v2 = v2Pipeline(log, pullAuth(auth, config.auth.pull, log, refusals), v2Handler({ pull, listing, refusals, upstreams, defaultUpstream: config.defaultUpstream, metrics, log }));
  const proxies = trustedProxies(config.server?.trustedProxies);
  // The pull API goes first and past the framework (see v2-pipeline.ts); the rest is express.
  app.use((req, res, next) => {
    attachClient(req, proxies);
    closeAfterBody(req, res);
    if (isV2(req.url)) v2(req, res);
    else next();
  });
  app.use((req, res, next) => {
    assignRequestId(req, res);
    next();
  });
  app.use(requestLog(log));
  app.use(bodyLimits(config.server?.requestTimeoutMs ?? 30_000));
  bus.provide('metrics', () => metrics.snapshot());
  app.use(opsRoutes({ db, store, scrape: async () => mergeSnapshots(await bus.gather('metrics')) }));
  app.get('/auth/token', tokenEndpoint(auth, log));
  const live = new LiveStreams(50, config.audit.liveStreamsPerIdentity);
  const purge = new CachePurge({ index, store, manifests, room, audit, upstreams: new Set(upstreams.keys()) });
  app.use('/api/v1', apiRouter({
    db, policies, auth, evaluate, log, live,
    trust: trustChanges,
    checkpoints: checkpointKey ? { key: checkpointKey, file: checkpointCfg?.file } : undefined,
    onChainVerified: (intact) => metrics.chainChecked(intact),
    upstreamNames: new Set(upstreams.keys()),
    knownKeys: new Set(Object.keys(config.trust.keys)),
    knownRoots: knownRoots(config.trust),
    // Read per request: a refreshed trusted root changes it.
    get fingerprint() {
      return gatherer.fingerprint;
    },
    purge,
    announce: (message) => bus.broadcast(message),
  }));
  app.use(consoleRoutes(opts.consoleDir));
  app.use(notFound);

  return {
    express: app,
    handler: (req, res) => {
      if (!isV2(req.url)) return app(req, res);
      attachClient(req, proxies);
      closeAfterBody(req, res);
      v2(req, res);
    },
    config,
    db,
    store,
    audit,
    metrics,
    log,
    blobs,
    policy,
    policies,
    evaluate,
    purge,
    closeStreams: () => live.closeAll(),
    async close() {
      live.closeAll();
      retention?.stop();
      linkSweep?.stop();
      policies.stop();
      trustChanges.stop();
      refusals.close();
      trust.stop();
      await Promise.all([...upstreams.values()].map((u) => u.close().catch(() => {})));
      // Refusals counted as suppressed are written on close; let every pending append finish first.
      await audit.drain();
      // The last checkpoint covers every event this process wrote.
      await checkpointer?.stop();
      await db.close();
    },
  };
}

/** Whether a rule relies on the Sigstore root (certificates, logs), not only on configured keys. */
function needsTrustedRoot(rule: PolicyRule): boolean {
  if (rule.mode !== 'enforce' && rule.mode !== 'warn') return false;
  const entries = [...(rule.signatures?.anyOf ?? []), ...(rule.provenance?.signedBy.anyOf ?? [])];
  // A keyless entry naming another root relies on that file, not on the refreshed default root.
  return entries.some((e) => ('keyless' in e && !e.keyless.root) || ('key' in e && e.tlog === 'required'));
}
