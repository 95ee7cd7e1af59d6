import express, { type NextFunction, type Request, type Response } from 'express';
import { bodyRule } from '../http/request-limits.js';
import type { Role } from '../config/types.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Identity } from '../auth/token-registry.js';
import { csrfMatches, type ConsoleSessions } from '../auth/console-sessions.js';
import { CSRF_HEADER, readCookie, SESSION_COOKIE } from '../auth/session-cookie.js';
import { sendApiError } from './api-error.js';

export const API_CHALLENGE = 'Bearer realm="portcullis"';

/** Methods that change nothing: a session cookie alone is enough for them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every /api/v1 call needs `Authorization: Bearer <token>`: 401 without a known token, 429 while throttled.
 * With single sign-on, a request without Authorization may instead carry the console's session cookie; its
 * writes must also echo the session's CSRF token in X-CSRF-Token (403 otherwise).
 */
export function apiAuth(auth: Authenticator, sessions?: ConsoleSessions) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const cookie = sessions && req.headers.authorization === undefined ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (sessions && cookie !== undefined) {
      const session = await sessions.resolve(cookie);
      if (!session) {
        res.setHeader('WWW-Authenticate', API_CHALLENGE);
        sendApiError(res, 401, 'UNAUTHORIZED', 'the sign-in session has ended (expired or signed out); sign in again');
        return;
      }
      const presented = req.headers[CSRF_HEADER];
      if (!SAFE_METHODS.has(req.method) && !csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
        await auth.forbidden(req, res, session.identity, `${req.method} ${req.baseUrl}${req.path} with a session cookie but without its ${CSRF_HEADER} header`);
        sendApiError(res, 403, 'CSRF', `a write with the session cookie needs the session's ${CSRF_HEADER} header (from GET /api/v1/whoami)`);
        return;
      }
      res.locals.user = session.identity.name;
      res.locals.identity = session.identity;
      res.locals.csrfToken = session.csrf;
      next();
      return;
    }
    const outcome = await auth.authenticate(req, res, { basic: false, issued: false });
    if (outcome.kind === 'ok') {
      res.locals.user = outcome.identity.name;
      res.locals.identity = outcome.identity;
      next();
      return;
    }
    if (outcome.kind === 'blocked') {
      res.setHeader('Retry-After', String(outcome.retryAfter));
      sendApiError(res, 429, 'TOOMANYREQUESTS', `too many failed sign-ins with these credentials from this address; retry in ${outcome.retryAfter} s (valid tokens are accepted meanwhile)`);
      return;
    }
    res.setHeader('WWW-Authenticate', API_CHALLENGE);
    const message = outcome.kind === 'missing' ? 'send Authorization: Bearer <token>' : outcome.reason;
    sendApiError(res, 401, 'UNAUTHORIZED', message);
  };
}

/** JSON body parsers by size limit (see bodyRule). */
const parsers = new Map<number, ReturnType<typeof express.json>>();

/** Reads the JSON body, within the route's size limit; only ever after the caller's role is checked. */
function parseBody(req: Request, res: Response, next: NextFunction): void {
  const limit = Math.max(1, bodyRule(req.method, req.originalUrl.split('?')[0]!).maxBytes);
  let parse = parsers.get(limit);
  if (!parse) parsers.set(limit, (parse = express.json({ limit, strict: false })));
  parse(req, res, next);
}

/**
 * 403 unless the caller holds one of the roles (admin holds every role). The body is read only once the
 * role is known to be right: a refusal never waits for a body, and its connection closes after it.
 */
export function requireRole(auth: Authenticator, ...roles: Role[]) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const identity = res.locals.identity as Identity;
    if (identity.role === 'admin' || roles.includes(identity.role)) {
      parseBody(req, res, next);
      return;
    }
    await auth.forbidden(req, res, identity, `role ${identity.role} may not ${req.method} ${req.baseUrl}${req.path}`);
    sendApiError(res, 403, 'DENIED', `"${identity.name}" (${identity.role}) may not do this; it needs ${['admin', ...roles].join(' or ')}`);
  };
}
