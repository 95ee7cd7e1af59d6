import express, { type Express, type Router } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticator.js';
import { tokenEndpoint } from '../auth/pull-auth.js';
import { consoleSsoRoutes, type ConsoleSso } from '../auth/console-sso-routes.js';
import type { Config } from '../config/types.js';
import type { Database } from '../db/types.js';
import { attachClient, trustedProxies } from '../http/client-address.js';
import { consoleRoutes } from '../http/console-routes.js';
import { opsRoutes } from '../http/ops-routes.js';
import { bodyLimits, closeAfterBody, notFound } from '../http/request-limits.js';
import { requestLog } from '../http/request-log.js';
import { assignRequestId, isV2 } from '../http/v2-pipeline.js';
import type { Logger } from '../logger.js';
import type { BlobStore } from '../store/blob-store.js';
import { resolveTarget } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

export interface FrontParts {
  /** The pull API, served past the framework. */
  v2: (req: IncomingMessage, res: ServerResponse) => void;
  /** The admin API, mounted at /api/v1. */
  api: Router;
  auth: Authenticator;
  /** The configured upstreams by name (token scopes name repositories as /v2 paths do). */
  upstreams: ReadonlyMap<string, UpstreamClient>;
  db: Database;
  store: BlobStore;
  /** The metrics of every worker, in the Prometheus text format. */
  scrape: () => Promise<string>;
  log: Logger;
  /** The built web console served at /ui/. */
  consoleDir?: string;
  /** Single sign-on of people at /auth/console/, when configured. */
  sso?: ConsoleSso;
}

/**
 * One HTTP entry for everything: /v2 straight to the pull pipeline, the rest (ops, token endpoint, admin API,
 * console) through express.
 */
export function httpFront(config: Config, p: FrontParts): { express: Express; handler: (req: IncomingMessage, res: ServerResponse) => void } {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  const proxies = trustedProxies(config.server?.trustedProxies);
  // The pull API goes first and past the framework (see v2-pipeline.ts); the rest is express.
  app.use((req, res, next) => {
    attachClient(req, proxies);
    closeAfterBody(req, res);
    if (isV2(req.url)) p.v2(req, res);
    else next();
  });
  app.use((req, res, next) => {
    assignRequestId(req, res);
    next();
  });
  app.use(requestLog(p.log));
  app.use(bodyLimits(config.server?.requestTimeoutMs ?? 30_000));
  app.use(opsRoutes({ db: p.db, store: p.store, scrape: p.scrape }));
  app.get('/auth/token', tokenEndpoint(p.auth, p.log, (name) => canonicalName(name, p.upstreams, config.defaultUpstream)));
  if (p.sso) app.use(consoleSsoRoutes(p.sso));
  app.use('/api/v1', p.api);
  app.use(consoleRoutes(p.consoleDir));
  app.use(notFound);
  return {
    express: app,
    handler: (req, res) => {
      if (!isV2(req.url)) return app(req, res);
      attachClient(req, proxies);
      closeAfterBody(req, res);
      p.v2(req, res);
    },
  };
}

/** The canonical name a /v2 path's repository name resolves to, or undefined when it resolves to none. */
function canonicalName(name: string, upstreams: ReadonlyMap<string, UpstreamClient>, defaultUpstream: string | undefined): string | undefined {
  try {
    return resolveTarget(name, undefined, upstreams, defaultUpstream).canonical;
  } catch {
    return undefined;
  }
}
