import { Router, type NextFunction, type Request, type Response } from 'express';
import { sendApiError } from './api-error.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { apiAuth } from './api-auth.js';
import { auditRoutes } from './audit-routes.js';
import { policyRoutes } from './policy-routes.js';
import { cacheRoutes } from './cache-routes.js';
import { trustRoutes } from './trust-routes.js';
import { vulnerabilityRoutes } from './vulnerability-routes.js';
import { tagRoutes } from './tag-routes.js';
import { whoamiRoutes } from './whoami-routes.js';
import { prefetchRoutes } from './prefetch-routes.js';
import { notificationRoutes } from './notification-routes.js';
import type { ApiDeps } from './api-deps.js';

export type { ApiDeps } from './api-deps.js';

/** The admin and audit API, mounted at /api/v1. Every route needs a bearer token; roles are per route. */
export function apiRouter(d: ApiDeps): Router {
  const r = Router();
  r.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // Bodies are read by requireRole, once the caller is known and allowed (see api-auth.ts).
  r.use(apiAuth(d.auth, d.sessions));
  r.use(whoamiRoutes());
  r.use(policyRoutes(d));
  r.use(auditRoutes(d));
  r.use(cacheRoutes(d));
  r.use(trustRoutes(d));
  r.use(tagRoutes(d));
  r.use(prefetchRoutes(d));
  r.use(notificationRoutes(d));
  r.use(vulnerabilityRoutes(d));
  r.use((req, res) => sendApiError(res, 404, 'NOT_FOUND', `no API route ${req.method} ${req.baseUrl}${req.path}`));
  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') return sendApiError(res, 400, 'BAD_REQUEST', 'the body is not valid JSON');
    if (e.type === 'entity.too.large') return sendApiError(res, 413, 'TOO_LARGE', `the body is larger than this call takes (${(e as { limit?: number }).limit} bytes)`);
    // The client went, or the body's time ran out (408 already sent): nobody is left to answer.
    if (e.type === 'request.aborted') return sendApiError(res, 400, 'BAD_REQUEST', 'the request ended before its body');
    // The router decodes path parameters (`/exceptions/%zz`) and throws a URIError on a bad encoding.
    if (err instanceof URIError) return sendApiError(res, 400, 'BAD_REQUEST', 'the path holds a malformed percent-encoding');
    if (isDatabaseUnavailable(err)) {
      d.log.warn('API request failed: the database cannot be reached', { requestId: res.locals.requestId, path: req.path, error: e.message });
      res.setHeader('Retry-After', '5');
      return sendApiError(res, 503, 'UNAVAILABLE', 'the database cannot be reached; try again shortly');
    }
    d.log.error('API request failed', { requestId: res.locals.requestId, path: req.path, error: String((err as Error)?.stack ?? err) });
    sendApiError(res, 500, 'INTERNAL', 'internal error');
  });
  return r;
}
