import type { Request, Response } from 'express';
import type { HttpRequest, HttpResponse } from '../http/plain.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { sendError } from '../http/send-error.js';
import { refusalEvent } from '../http/refusal-event.js';
import { pathOf } from '../http/plain.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { grantedAccess, requestedScopes } from './token-scope.js';
import type { AuthOptions, Authenticator } from './authenticator.js';
import type { Identity } from './token-registry.js';
import type { WorkloadIdentity } from './workload-identity.js';

export const PULL_CHALLENGE = 'Basic realm="portcullis"';
const PULL_ROLES = new Set(['puller', 'admin']);

/**
 * Guards /v2. With `pull: "token"` every request needs Basic credentials (user = token name, password =
 * token) or a bearer token from /auth/token; the name is kept in res.locals.user for the audit log. With
 * anonymous pulls, valid credentials still name the user, and anything else is served anonymously.
 */
export function pullAuth(auth: Authenticator, mode: 'anonymous' | 'token', log: Logger, refusals?: RefusalAudit) {
  const guard = async (req: HttpRequest, res: HttpResponse, next: () => void): Promise<void> => {
    if (mode === 'anonymous') {
      if (req.headers.authorization) {
        const outcome = await auth.authenticate(req, res, { basic: true, issued: true });
        if (outcome.kind === 'ok') res.locals.user = outcome.identity.name;
      }
      next();
      return;
    }
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (await admitPuller(auth, req, res, log, { basic: true, issued: true }, refusals)) next();
  };
  return (req: HttpRequest, res: HttpResponse, next: () => void): void => {
    guard(req, res, next).catch((err: unknown) => sendError(req, res, err, log));
  };
}

/**
 * The Docker token endpoint: GET with Basic credentials answers `{token, access_token, expires_in,
 * issued_at}` for use as `Authorization: Bearer`. The token grants pull of the requested `scope`s the
 * identity may pull (token-scope.ts), resolved to canonical names by `canonical`; without a scope, the base
 * endpoint only.
 */
export function tokenEndpoint(auth: Authenticator, log: Logger, canonical: (name: string) => string | undefined) {
  return async (req: Request, res: Response): Promise<void> => {
    res.setHeader('Cache-Control', 'no-store');
    let requested: ReturnType<typeof requestedScopes>;
    try {
      requested = requestedScopes(new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '').getAll('scope'));
    } catch (err) {
      sendError(req, res, err, log);
      return;
    }
    const identity = await admitPuller(auth, req, res, log, { basic: true, issued: false });
    if (!identity) return;
    const access = grantedAccess(requested, identity, canonical);
    const t = 'expiresAt' in identity ? auth.issued.issue(identity.name, access, Date.now(), identity as WorkloadIdentity) : auth.issued.issue(identity.name, access);
    res.status(200).json({ token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt });
  };
}

/** The identity when it may pull; otherwise sends the OCI error (429, 401 with a challenge, or 403). */
async function admitPuller(auth: Authenticator, req: HttpRequest, res: HttpResponse, log: Logger, opts: AuthOptions, refusals?: RefusalAudit): Promise<Identity | undefined> {
  const outcome = await auth.authenticate(req, res, opts);
  if (outcome.kind === 'blocked') {
    const retry = String(outcome.retryAfter);
    const message = `too many failed sign-ins with these credentials from this address; retry in ${retry} s (valid credentials are accepted meanwhile)`;
    sendError(req, res, new OciError('TOOMANYREQUESTS', message, undefined, { 'Retry-After': retry }), log);
    return undefined;
  }
  if (outcome.kind !== 'ok') {
    const message = outcome.kind === 'missing' ? loginHint(req, auth.acceptsJwts) : `authentication failed: ${outcome.reason}`;
    const error = new OciError('UNAUTHORIZED', message, undefined, { 'WWW-Authenticate': PULL_CHALLENGE });
    // Failed credentials are audited by the authenticator (auth.failure); a request with none is audited here.
    // The base endpoint is how clients ask for the challenge; only requests for content are refusals.
    if (outcome.kind === 'missing' && !/^\/v2\/?$/.test(pathOf(req))) refusals?.record(refusalEvent(req, res, error));
    sendError(req, res, error, log);
    return undefined;
  }
  const { identity } = outcome;
  res.locals.user = identity.name;
  // Checked against each request's repository once its name is resolved (http/repository-scope.ts).
  if (identity.repositories) res.locals.repositories = identity.repositories;
  if (identity.pullable) res.locals.pullable = identity.pullable;
  if (!PULL_ROLES.has(identity.role)) {
    await auth.forbidden(req, res, identity, `role ${identity.role} may not pull`);
    sendError(req, res, new OciError('DENIED', `"${identity.name}" (${identity.role}) may not pull images`), log);
    return undefined;
  }
  return identity;
}

/** What a client without credentials should do, with the host it used (when it looks like one). */
function loginHint(req: HttpRequest, jwts: boolean): string {
  const host = req.headers.host ?? '';
  const shown = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:\d{1,5})?$/.test(host) ? host : 'HOST';
  const workload = jwts ? '; or a workload JWT from a trusted issuer as the password, with any user name' : '';
  return `authentication required: this proxy requires a token: docker login ${shown} (user: the token's name, password: the token${workload})`;
}
