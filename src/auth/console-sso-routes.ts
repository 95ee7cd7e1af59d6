import { Router, type Request, type Response } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import type { Logger } from '../logger.js';
import { clientAddress } from '../http/client-address.js';
import { CALLBACK_PATH } from '../config/oidc-console-schema.js';
import { ConsoleSessions, csrfMatches, LOGIN_TTL_MS } from './console-sessions.js';
import { ConsoleProvider, describeError, ProviderUnavailable } from './oidc-console.js';
import { claimValues, mapRole, personLabel, personOf } from './role-mapping.js';
import type { Person } from './token-registry.js';
import {
  CSRF_HEADER, readCookie, SESSION_COOKIE, sessionCookieOptions, SIGNIN_COOKIE, signinCookieOptions,
} from './session-cookie.js';

export interface ConsoleSso {
  provider: ConsoleProvider;
  sessions: ConsoleSessions;
  /** Cookies get Secure: the server speaks TLS, or its configured callback is https (TLS ends in front of it). */
  secure: boolean;
  audit: AuditLog;
  /** Refusals that name nobody (forged or replayed callbacks): anyone can send them, so a flood is counted, not logged. */
  refusals: RefusalAudit;
  log: Logger;
}

/**
 * Single sign-on of people at /auth/console/: `provider` (whether the console may offer it, and why not),
 * `login` (off to the provider), `callback` (back from it: a session, or the reason there is none, shown by
 * the console) and `logout`. Every sign-in, refusal and sign-out is an audit event naming the person.
 */
export function consoleSsoRoutes(sso: ConsoleSso): Router {
  const r = Router();
  const { provider, sessions } = sso;
  r.use('/auth/console', (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  r.get('/auth/console/provider', async (_req, res) => {
    const status = await provider.status();
    res.json({ name: provider.name, loginUrl: '/auth/console/login', ...status });
  });

  r.get('/auth/console/login', async (req, res) => {
    const redirectUrl = provider.settings.redirectUrl ?? derivedCallback(req, sso.secure);
    if (!redirectUrl) return backToConsole(res, 'the request names no valid Host; set auth.oidc.console.redirectUrl');
    try {
      const begun = await provider.begin(redirectUrl);
      const browser = await sessions.beginLogin(begun.state, { nonce: begun.nonce, codeVerifier: begun.codeVerifier, redirectUrl });
      if (browser === undefined) return backToConsole(res, 'Single sign-on is busy: too many sign-ins are in progress; try again in a few minutes');
      res.cookie(SIGNIN_COOKIE, browser, signinCookieOptions(sso.secure, LOGIN_TTL_MS));
      res.redirect(302, begun.url);
    } catch (err) {
      const reason = err instanceof ProviderUnavailable ? err.message : `sign-in could not start: ${describeError(err)}`;
      if (!(err instanceof ProviderUnavailable)) sso.log.warn('single sign-on could not start', { reason });
      backToConsole(res, `Single sign-on is unavailable: ${reason}`);
    }
  });

  r.get(CALLBACK_PATH, async (req, res) => {
    res.clearCookie(SIGNIN_COOKIE, signinCookieOptions(sso.secure));
    const params = new URL(req.originalUrl, 'http://callback').searchParams;
    const state = params.get('state');
    if (!state) return refuse(req, res, null, 'the callback carries no state; start the sign-in from the console');
    const login = await sessions.takeLogin(state, readCookie(req.headers.cookie, SIGNIN_COOKIE));
    if ('error' in login) return refuse(req, res, null, login.error);
    const providerError = params.get('error');
    if (providerError) {
      const description = params.get('error_description');
      return refuse(req, res, null, `the provider refused: ${providerError}${description ? ` (${description.slice(0, 200)})` : ''}`);
    }
    const settings = provider.settings;
    const wanted = [settings.nameClaim, ...Object.values(settings.roles).flatMap((rule) => Object.keys(rule ?? {}))];
    const callbackUrl = new URL(login.redirectUrl);
    callbackUrl.search = params.toString();
    let person: Person;
    let outcome: ReturnType<typeof mapRole>;
    try {
      const claims = await provider.finish(callbackUrl, { state, nonce: login.nonce, codeVerifier: login.codeVerifier }, wanted);
      person = personOf(claims, settings.issuer, settings.nameClaim);
      outcome = mapRole(claims, settings.roles);
      if ('reason' in outcome) sso.log.info('single sign-on refused', { person: personLabel(person), claims: wanted.map((c) => `${c}=${claimValues(claims, c).join(',')}`) });
    } catch (err) {
      return refuse(req, res, null, `the provider's answer was not accepted: ${describeError(err)}`);
    }
    if ('reason' in outcome) return refuse(req, res, person, outcome.reason);
    const session = await sessions.create(person, outcome.role);
    res.cookie(SESSION_COOKIE, session.cookie, sessionCookieOptions(sso.secure, session.expiresAt - Date.now()));
    await record(req, res, 'auth.signin', person, 200, [`signed in with ${settings.name} as ${outcome.role}`]);
    res.redirect(302, '/ui/');
  });

  r.post('/auth/console/logout', async (req, res) => {
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    const session = cookie === undefined ? undefined : await sessions.resolve(cookie);
    if (session && !csrfMatches(session, headerOf(req, CSRF_HEADER))) {
      res.status(403).json({ error: { code: 'CSRF', message: `sign-out needs the ${CSRF_HEADER} header of this session (from GET /api/v1/whoami)` } });
      return;
    }
    res.clearCookie(SESSION_COOKIE, sessionCookieOptions(sso.secure));
    if (cookie !== undefined && session && (await sessions.end(cookie))) {
      await record(req, res, 'auth.signout', session.identity.person!, 200, ['signed out']);
    }
    res.json({ signedOut: true });
  });

  /** The refusal is audited (naming the person when the provider said who), then shown by the console. */
  async function refuse(req: Request, res: Response, person: Person | null, reason: string): Promise<void> {
    if (person) await record(req, res, 'auth.signin.refused', person, 403, [reason]);
    else sso.refusals.record(eventOf(req, res, 'auth.signin.refused', null, 403, [reason]));
    backToConsole(res, `Sign-in refused: ${reason}`);
  }

  async function record(req: Request, res: Response, kind: string, person: Person, status: number, reasons: string[]): Promise<void> {
    await sso.audit
      .append(eventOf(req, res, kind, person, status, reasons))
      .catch((err: unknown) => sso.log.error('audit append failed for a single sign-on event', { error: String(err) }));
  }

  return r;
}

function eventOf(req: Request, res: Response, kind: string, person: Person | null, status: number, reasons: string[]) {
  return {
    kind,
    requestId: (res.locals.requestId as string | undefined) ?? null,
    client: clientAddress(req),
    user: person ? personLabel(person) : null,
    reference: `${req.method} ${req.path}`,
    reasons,
    evidence: person ? { subject: person.subject, issuer: person.issuer, name: person.name } : null,
    status,
  };
}

/** The console shows `signin_error` on its sign-in page. */
function backToConsole(res: Response, message: string): void {
  res.redirect(302, `/ui/?signin_error=${encodeURIComponent(message.slice(0, 600))}`);
}

function headerOf(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** This server's callback as the browser reaches it; undefined when the Host header is not a host. */
function derivedCallback(req: Request, secure: boolean): string | undefined {
  const host = req.headers.host;
  if (!host || !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return undefined;
  return `${secure ? 'https' : 'http'}://${host}${CALLBACK_PATH}`;
}
