import { Router } from 'express';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-deps.js';

/**
 * GET /prefetch (admin, auditor): every configured prefetch list, its last run and next run, and each image's
 * outcome in the last run with its reasons.
 */
export function prefetchRoutes(d: Pick<ApiDeps, 'auth' | 'prefetchStatus'>): Router {
  const r = Router();
  r.get('/prefetch', requireRole(d.auth, 'auditor'), onlyKnown({ query: [] }), async (_req, res) => {
    res.json(d.prefetchStatus ? await d.prefetchStatus() : { intervalMs: null, concurrency: null, lists: [] });
  });
  return r;
}
