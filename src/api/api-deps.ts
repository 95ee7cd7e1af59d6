import type { KeyObject } from 'node:crypto';
import type { ChainOutcome } from '../audit/chain-alarm.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ConsoleSessions } from '../auth/console-sessions.js';
import type { ClusterMessage } from '../cluster/bus.js';
import type { PolicyVersions } from '../db/policy-versions.js';
import type { TrustChanges } from '../db/trust-changes.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { CachePurge } from '../pull/cache-purge.js';
import type { LiveStreams } from './audit-live.js';
import type { ImageEvaluator } from './image-evaluator.js';
import type { PrefetchStatus } from '../prefetch/prefetch-status.js';
import type { KnownExploitedCatalog } from '../vuln/known-exploited.js';

/** What the admin API's routers are given; it lives below them so that no router imports the one that mounts it. */
export interface ApiDeps {
  db: Database;
  policies: PolicyVersions;
  auth: Authenticator;
  knownKeys: ReadonlySet<string>;
  /** Root names a keyless entry may give (default: only the default root). */
  knownRoots?: ReadonlySet<string>;
  evaluate: ImageEvaluator;
  fingerprint?: string;
  purge: CachePurge;
  /** Tells every worker of this machine about a change; resolves once all of them applied it. */
  announce: (message: ClusterMessage) => Promise<void>;
  log: Logger;
  /** Revocations and exceptions. */
  trust: TrustChanges;
  /** `trust.knownExploitedFile`, for replay and revocation impact (pulls read the decision room's own). */
  knownExploited?: KnownExploitedCatalog;
  /** The checkpoint key (its public half verifies checkpoints) and the configured checkpoint file. */
  checkpoints?: { key: KeyObject; file?: string };
  /** Told the outcome of every whole-chain verification (for metrics). */
  onChainVerified?: (outcome: ChainOutcome) => void;
  /** Configured upstream names (exceptions name `<upstream>/<repository>`). */
  upstreamNames: ReadonlySet<string>;
  /** Console sessions of single sign-on, accepted beside bearer tokens (absent: not configured). */
  sessions?: ConsoleSessions;
  /** The live audit streams this process serves. */
  live: LiveStreams;
  /** The prefetch lists, their last and next runs (GET /prefetch). */
  prefetchStatus?: () => Promise<PrefetchStatus>;
}
