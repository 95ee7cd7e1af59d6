import type { KeyObject } from 'node:crypto';
import type { ChainOutcome } from '../audit/chain-alarm.js';
import type { Router } from 'express';
import { apiRouter } from '../api/api-router.js';
import { LiveStreams } from '../api/audit-live.js';
import type { ImageEvaluator } from '../api/image-evaluator.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ConsoleSessions } from '../auth/console-sessions.js';
import type { ClusterBus } from '../cluster/bus.js';
import { knownRoots } from '../config/load.js';
import type { Config } from '../config/types.js';
import type { PolicyVersions } from '../db/policy-versions.js';
import type { TrustChanges } from '../db/trust-changes.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { CachePurge } from '../pull/cache-purge.js';
import type { PrefetchStatus } from '../prefetch/prefetch-status.js';
import { KnownExploitedCatalog } from '../vuln/known-exploited.js';

export interface AdminServices {
  db: Database;
  /** Console sessions of single sign-on, when configured. */
  sessions?: ConsoleSessions;
  policies: PolicyVersions;
  trustChanges: TrustChanges;
  auth: Authenticator;
  evaluate: ImageEvaluator;
  purge: CachePurge;
  bus: ClusterBus;
  metrics: Metrics;
  log: Logger;
  upstreamNames: ReadonlySet<string>;
  /** The fingerprint of the trust material in use, read per request: a refreshed trusted root changes it. */
  fingerprint: () => string;
  checkpointKey?: KeyObject;
  /** Told every whole-chain verification's outcome (metric, and an event for a break). */
  chainChecked: (outcome: ChainOutcome) => void;
  prefetchStatus: () => Promise<PrefetchStatus>;
}

export interface AdminApi {
  /** Mounted at /api/v1. */
  router: Router;
  /** Ends the live audit streams (they would hold their connections open). */
  closeStreams(): void;
}

/** The admin and audit API with its live audit streams. */
export function adminApi(config: Config, s: AdminServices): AdminApi {
  const live = new LiveStreams(50, config.audit.liveStreamsPerIdentity);
  const router = apiRouter({
    db: s.db, sessions: s.sessions, policies: s.policies, auth: s.auth, evaluate: s.evaluate, log: s.log, live,
    trust: s.trustChanges,
    knownExploited: config.trust.knownExploitedFile ? new KnownExploitedCatalog(config.trust.knownExploitedFile, (error) => s.log.error('known-exploited catalog unreadable', { error })) : undefined,
    checkpoints: s.checkpointKey ? { key: s.checkpointKey, file: config.audit.checkpoint?.file } : undefined,
    onChainVerified: s.chainChecked,
    upstreamNames: s.upstreamNames,
    knownKeys: new Set(Object.keys(config.trust.keys)),
    knownRoots: knownRoots(config.trust),
    get fingerprint() {
      return s.fingerprint();
    },
    purge: s.purge,
    announce: (message) => s.bus.broadcast(message),
    prefetchStatus: s.prefetchStatus,
  });
  return { router, closeStreams: () => live.closeAll() };
}
