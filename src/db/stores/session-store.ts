import type { PendingLogin, SessionRow, SessionStore } from '../types.js';
import { query } from '../query/compiled.js';
import type { Executor } from '../query/steps.js';

/** Console sign-ins and sessions: single statements, the same for SQLite and PostgreSQL. */
export class SqlSessionStore implements SessionStore {
  private readonly q;

  constructor(private readonly x: Executor) {
    const qb = x.qb;
    this.q = {
      putLogin: query((a: { state: string } & PendingLogin) =>
        qb.insertInto('console_logins').values({
          state_hash: a.state, browser_hash: a.browserHash, nonce: a.nonce, code_verifier: a.codeVerifier,
          redirect_url: a.redirectUrl, expires_at: a.expiresAt,
        })),
      // Delete-and-return in one statement: of two callbacks with one state, only one gets the row.
      takeLogin: query((a: { state: string }) => qb.deleteFrom('console_logins').where('state_hash', '=', a.state).returningAll()),
      putSession: query((a: { id: string } & SessionRow) =>
        qb.insertInto('console_sessions').values({
          id_hash: a.id, csrf: a.csrf, subject: a.subject, issuer: a.issuer, name: a.name, role: a.role,
          created_at: a.createdAt, expires_at: a.expiresAt,
        })),
      getSession: query((a: { id: string; now: number }) =>
        qb.selectFrom('console_sessions').selectAll().where('id_hash', '=', a.id).where('expires_at', '>', a.now)),
      deleteSession: query((a: { id: string }) => qb.deleteFrom('console_sessions').where('id_hash', '=', a.id)),
      pendingLogins: query(() => qb.selectFrom('console_logins').select((eb) => eb.fn.countAll<number>().as('n'))),
      pruneLogins: query((a: { now: number }) => qb.deleteFrom('console_logins').where('expires_at', '<=', a.now)),
      pruneSessions: query((a: { now: number }) => qb.deleteFrom('console_sessions').where('expires_at', '<=', a.now)),
    };
  }

  async putLogin(state: string, login: PendingLogin) {
    await this.x.run(this.q.putLogin, { state, ...login });
  }

  async pendingLogins() {
    return Number((await this.x.get(this.q.pendingLogins, {}))?.n ?? 0);
  }

  async takeLogin(state: string, now: number) {
    const row = await this.x.get(this.q.takeLogin, { state });
    if (!row || Number(row.expires_at) <= now) return undefined;
    return { browserHash: row.browser_hash, nonce: row.nonce, codeVerifier: row.code_verifier, redirectUrl: row.redirect_url, expiresAt: Number(row.expires_at) };
  }

  async putSession(id: string, session: SessionRow) {
    await this.x.run(this.q.putSession, { id, ...session });
  }

  async getSession(id: string, now: number) {
    const row = await this.x.get(this.q.getSession, { id, now });
    if (!row) return undefined;
    return {
      csrf: row.csrf, subject: row.subject, issuer: row.issuer, name: row.name, role: row.role,
      createdAt: Number(row.created_at), expiresAt: Number(row.expires_at),
    };
  }

  async deleteSession(id: string) {
    return (await this.x.run(this.q.deleteSession, { id })) > 0;
  }

  async prune(now: number) {
    await this.x.run(this.q.pruneLogins, { now });
    await this.x.run(this.q.pruneSessions, { now });
  }
}
