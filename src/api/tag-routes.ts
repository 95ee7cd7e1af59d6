import { Router } from 'express';
import type { Identity } from '../auth/token-registry.js';
import { clientAddress } from '../auth/authenticator.js';
import { sealOne } from '../audit/audit-log.js';
import { isDigest } from '../oci/digest.js';
import { isTag } from '../oci/reference.js';
import { sendApiError, type FieldError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-router.js';

/**
 * POST /tags/accept (admin): `{"repository": "<upstream>/<repository>", "tag", "digest"}` makes `digest` the
 * verified digest of the tag, so a tag refused for moving (`tagDrift: "deny"`) is served again, and
 * `keep-verified` keeps it from then on. The new digest is still judged by its rule on every pull. Audited
 * as `tag.accept`, in the same transaction; every process reads it from the database on the next pull.
 */
export function tagRoutes(d: Pick<ApiDeps, 'auth' | 'db' | 'upstreamNames'>): Router {
  const r = Router();
  r.post('/tags/accept', requireRole(d.auth), onlyKnown({ body: ['repository', 'tag', 'digest'] }), async (req, res) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const errors: FieldError[] = [];
    const repository = typeof body.repository === 'string' ? body.repository : '';
    const slash = repository.indexOf('/');
    const upstream = slash > 0 ? repository.slice(0, slash) : '';
    if (!d.upstreamNames.has(upstream) || slash === repository.length - 1) {
      errors.push({ path: 'repository', message: 'must be "<upstream>/<repository>" with a configured upstream' });
    }
    if (typeof body.tag !== 'string' || !isTag(body.tag)) errors.push({ path: 'tag', message: 'must be a tag' });
    if (typeof body.digest !== 'string' || !isDigest(body.digest)) errors.push({ path: 'digest', message: 'must be a digest such as sha256:…' });
    if (errors.length > 0) {
      sendApiError(res, 400, 'BAD_REQUEST', `${errors.length} invalid field(s)`, errors);
      return;
    }
    const tag = body.tag as string;
    const digest = body.digest as string;
    const repo = repository.slice(slash + 1);
    const user = (res.locals.identity as Identity).name;
    const previous = await d.db.tags.verified(upstream, repo, tag);
    const accepted = await d.db.tags.accept(upstream, repo, tag, digest, new Date().toISOString(), user, sealOne({
      kind: 'tag.accept', requestId: res.locals.requestId as string, client: clientAddress(req), user, upstream, repository, reference: tag, digest,
      reasons: [`${user} accepted ${digest} for tag "${tag}"${previous ? ` (was ${previous.digest})` : ''}`],
      evidence: { tag, previousDigest: previous?.digest ?? null, acceptedDigest: digest },
    }));
    res.json({ repository, tag, ...accepted, previousDigest: previous?.digest ?? null });
  });
  return r;
}
