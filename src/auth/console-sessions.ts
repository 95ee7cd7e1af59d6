import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../config/types.js';
import type { PendingLogin, SessionStore } from '../db/types.js';
import { personLabel } from './role-mapping.js';
import type { Identity, Person } from './token-registry.js';

/** How long a sign-in begun at the provider may take to come back. */
export const LOGIN_TTL_MS = 10 * 60_000;
/** Sign-ins waiting for their callback at once; anyone can begin one, so the table must not grow without end. */
export const MAX_PENDING_LOGINS = 10_000;

export interface Session {
  identity: Identity;
  /** The token cookie-authenticated writes must echo in X-CSRF-Token. */
  csrf: string;
  expiresAt: number;
}

/**
 * Console sessions kept in the database (shared by every process and replica, ended at once by sign-out
 * or by deleting the row) rather than in a signed cookie, which could not be revoked before it expires.
 * The browser holds random secrets; the database only their sha256, so reading it signs nobody in.
 */
export class ConsoleSessions {
  constructor(
    private readonly store: SessionStore,
    private readonly ttlMs: number,
  ) {}

  /**
   * Records a sign-in begun at the provider; returns the secret that binds it to this browser, or undefined
   * while too many sign-ins wait for their callback.
   */
  async beginLogin(state: string, login: Omit<PendingLogin, 'browserHash' | 'expiresAt'>, max = MAX_PENDING_LOGINS): Promise<string | undefined> {
    const browser = secret();
    const now = Date.now();
    await this.store.prune(now);
    if ((await this.store.pendingLogins()) >= max) return undefined;
    await this.store.putLogin(hash(state), { ...login, browserHash: hash(browser), expiresAt: now + LOGIN_TTL_MS });
    return browser;
  }

  /** Takes the pending sign-in of `state` (once: a replay finds nothing) if this browser began it. */
  async takeLogin(state: string, browser: string | undefined): Promise<PendingLogin | { error: string }> {
    const login = await this.store.takeLogin(hash(state), Date.now());
    if (!login) return { error: 'this sign-in is unknown, already used or expired (a replayed or forged callback); start again' };
    if (browser === undefined || !same(hash(browser), login.browserHash)) {
      return { error: 'this sign-in was not begun in this browser (its sign-in cookie is missing or different); start again' };
    }
    return login;
  }

  /** A new session for the person; returns the cookie's secret. */
  async create(person: Person, role: Role): Promise<{ cookie: string; expiresAt: number }> {
    const cookie = secret();
    const now = Date.now();
    const expiresAt = now + this.ttlMs;
    await this.store.putSession(hash(cookie), {
      csrf: secret(), subject: person.subject, issuer: person.issuer, name: person.name, role, createdAt: now, expiresAt,
    });
    return { cookie, expiresAt };
  }

  /** The live session the cookie names, if any. */
  async resolve(cookie: string): Promise<Session | undefined> {
    const row = await this.store.getSession(hash(cookie), Date.now());
    if (!row) return undefined;
    const person: Person = { subject: row.subject, issuer: row.issuer, name: row.name };
    return { identity: { name: personLabel(person), role: row.role as Role, person }, csrf: row.csrf, expiresAt: row.expiresAt };
  }

  /** Ends the session (sign-out); true when there was one. */
  end(cookie: string): Promise<boolean> {
    return this.store.deleteSession(hash(cookie));
  }
}

/** Whether a presented CSRF token is the session's, in constant time. */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  return presented !== undefined && same(hash(presented), hash(session.csrf));
}

function secret(): string {
  return randomBytes(32).toString('base64url');
}

function hash(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function same(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
