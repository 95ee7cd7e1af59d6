import type { CookieOptions } from 'express';

/** The session: HttpOnly, SameSite=Strict (never sent on a request another site starts), Secure under TLS. */
export const SESSION_COOKIE = 'portcullis_session';
/**
 * Binds a sign-in to the browser that began it. SameSite=Lax: the provider's redirect back is a cross-site
 * navigation, on which a Strict cookie would not be sent. It is only ever read by the callback.
 */
export const SIGNIN_COOKIE = 'portcullis_signin';
export const SIGNIN_PATH = '/auth/console/';
/** The header a cookie-authenticated write must carry, with the session's token from GET /api/v1/whoami. */
export const CSRF_HEADER = 'x-csrf-token';

/** A cookie's value from a Cookie header; undefined when absent or not a plain token. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : undefined;
  }
  return undefined;
}

export function sessionCookieOptions(secure: boolean, maxAgeMs?: number): CookieOptions {
  return { httpOnly: true, secure, sameSite: 'strict', path: '/', ...(maxAgeMs === undefined ? {} : { maxAge: maxAgeMs }) };
}

export function signinCookieOptions(secure: boolean, maxAgeMs?: number): CookieOptions {
  return { httpOnly: true, secure, sameSite: 'lax', path: SIGNIN_PATH, ...(maxAgeMs === undefined ? {} : { maxAge: maxAgeMs }) };
}
