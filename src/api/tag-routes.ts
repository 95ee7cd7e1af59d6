import { Router } from 'express';
import type { Identity } from '../auth/token-registry.js';
import { clientAddress } from '../auth/authenticator.js';
import { sealOne } from '../audit/audit-log.js';
import { isDigest } from '../oci/digest.js';
import { isRepositoryName, isTag } from '../oci/reference.js';
import { tagHasPointedTo } from './tag-history.js';
import { sendApiError, type FieldError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-deps.js';

/**
 * POST /tags/accept (admin): `{"repository": "<upstream>/<repository>", "tag", "digest"}` makes `digest` the
 * verified digest of the tag, so a tag refused for moving (`tagDrift: "deny"`) is served again, and
 * `keep-verified` keeps it from then on. Only a digest the tag has pointed to upstream, as this proxy recorded
 * it, is accepted (see tag-history.ts). The new digest is still judged by its rule on every pull. Audited
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
    if (!d.upstreamNames.has(upstream) || !isRepositoryName(repository.slice(slash + 1))) {
      errors.push({ path: 'repository', message: 'must be "<upstream>/<repository>" with a configured upstream and a valid repository name' });
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
    if (!(await tagHasPointedTo(d.db, upstream, repo, tag, digest, previous))) {
      const known = previous ? `; it was verified as ${previous.digest}${previous.seenDigest ? ` and was last seen moving to ${previous.seenDigest}` : ''}` : '';
      sendApiError(res, 400, 'BAD_REQUEST', 'the tag has not pointed to this digest; nothing was accepted', [
        { path: 'digest', message: `tag "${tag}" of ${repository} has not pointed to ${digest} in any pull this proxy recorded${known}` },
      ]);
      return;
    }
    const accepted = await d.db.tags.accept(upstream, repo, tag, digest, new Date().toISOString(), user, sealOne({
      kind: 'tag.accept', requestId: res.locals.requestId as string, client: clientAddress(req), user, upstream, repository, reference: tag, digest,
      reasons: [`${user} accepted ${digest} for tag "${tag}"${previous ? ` (was ${previous.digest})` : ''}`],
      evidence: { tag, previousDigest: previous?.digest ?? null, acceptedDigest: digest },
    }));
    res.json({ repository, tag, ...accepted, previousDigest: previous?.digest ?? null });
  });
  return r;
}
