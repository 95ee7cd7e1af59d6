import { Router } from 'express';
import type { Authenticator } from '../auth/authenticator.js';
import { clientAddress } from '../auth/authenticator.js';
import type { Identity } from '../auth/token-registry.js';
import type { CachePurge } from '../pull/cache-purge.js';
import type { ClusterMessage } from '../cluster/bus.js';
import { sendApiError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';

/**
 * POST /cache/purge (admin): `{"repository": "<upstream>/<repo>"}` forgets its tags and re-verifies its
 * manifests; `{"digest": "sha256:…"}` removes that content from the store and re-verifies it.
 */
export function cacheRoutes(d: { auth: Authenticator; purge: CachePurge; announce: (message: ClusterMessage) => Promise<void> }): Router {
  const r = Router();
  r.post('/cache/purge', requireRole(d.auth), onlyKnown({ body: ['repository', 'digest'] }), async (req, res) => {
    const body: unknown = req.body;
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const repository = fields.repository;
    const digest = fields.digest;
    const errors = [
      ...(repository !== undefined && typeof repository !== 'string' ? [{ path: 'repository', message: 'must be a string' }] : []),
      ...(digest !== undefined && typeof digest !== 'string' ? [{ path: 'digest', message: 'must be a string' }] : []),
    ];
    if (errors.length === 0) errors.push(...d.purge.problems({ repository: repository as string | undefined, digest: digest as string | undefined }));
    if (errors.length > 0) {
      sendApiError(res, 400, 'BAD_REQUEST', 'body must be {"repository": "<upstream>/<repo>"} and/or {"digest": "sha256:…"}; nothing was purged', errors);
      return;
    }
    try {
      const { digests, ...purged } = await d.purge.purge(
        { repository: repository as string | undefined, digest: digest as string | undefined },
        { user: (res.locals.identity as Identity).name, client: clientAddress(req), requestId: res.locals.requestId as string },
      );
      // Workers remember manifests and evidence in memory: each forgets them before the purge is answered.
      await d.announce({ type: 'cache.purged', digests });
      res.json({ purged });
    } catch (err) {
      if (err instanceof RangeError) sendApiError(res, 400, 'BAD_REQUEST', err.message);
      else throw err;
    }
  });
  return r;
}
