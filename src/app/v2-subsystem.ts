import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/audit-log.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import type { Authenticator } from '../auth/authenticator.js';
import { pullAuth } from '../auth/pull-auth.js';
import type { Config } from '../config/types.js';
import { v2Pipeline } from '../http/v2-pipeline.js';
import { v2Handler } from '../http/v2-routes.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ListingService } from '../pull/listing-service.js';
import type { PullService } from '../pull/pull-service.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

export interface V2Services {
  pull: PullService;
  listing: ListingService;
  auth: Authenticator;
  audit: AuditLog;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  metrics: Metrics;
  log: Logger;
}

export interface V2Subsystem {
  /** Serves one request under /v2: pull credentials first, then the pull pipeline. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Writes the refusals still counted as suppressed. */
  close(): void;
}

/** The OCI pull API at /v2, past the framework (see http/v2-pipeline.ts). */
export function v2Subsystem(config: Config, s: V2Services): V2Subsystem {
  const { log } = s;
  const refusals = new RefusalAudit(s.audit, log, config.server?.workers ?? 1);
  const handle = v2Pipeline(
    log,
    pullAuth(s.auth, config.auth.pull, log, refusals),
    v2Handler({ pull: s.pull, listing: s.listing, refusals, upstreams: s.upstreams, defaultUpstream: config.defaultUpstream, metrics: s.metrics, log }),
  );
  return { handle, close: () => refusals.close() };
}
