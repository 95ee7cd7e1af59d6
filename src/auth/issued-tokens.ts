import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyStore } from '../db/types.js';
import type { Role } from '../config/types.js';
import type { Access } from './token-scope.js';

const PREFIX = 'pct1';

const KEY_NAME = 'issued-tokens';

/**
 * Short-lived bearer tokens for the Docker token flow: `pct1.<payload>.<hmac>`, signed with a key kept in
 * the database (created once), so a token issued by one replica is accepted by every other and survives a
 * restart for its lifetime. The payload names the identity, expiry and the repositories granted; a
 * configured identity's role is looked up again on every use.
 */
export class IssuedTokens {
  constructor(
    private readonly key: Buffer,
    readonly ttlSeconds = 300,
  ) {}

  /** With the signing key shared through the database. */
  static async shared(keys: KeyStore, ttlSeconds?: number): Promise<IssuedTokens> {
    return new IssuedTokens(await keys.getOrCreate(KEY_NAME, () => randomBytes(32)), ttlSeconds);
  }

  /**
   * A token for a configured identity, granting `access` (the distribution token spec's claim: the
   * repositories it may pull; none means the base endpoint only). For a workload (a verified JWT) the
   * token carries its role and repositories, as no configuration names it, and expires no later than the JWT.
   */
  issue(name: string, access: readonly Access[], now = Date.now(), workload?: { role: Role; repositories?: readonly string[]; expiresAt: number }): { token: string; expiresIn: number; issuedAt: string } {
    let exp = Math.floor(now / 1000) + this.ttlSeconds;
    if (workload) exp = Math.min(exp, Math.floor(workload.expiresAt / 1000));
    const claims = { sub: name, exp, access, ...(workload ? { role: workload.role, ...(workload.repositories ? { repos: workload.repositories } : {}) } : {}) };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${PREFIX}.${payload}.${this.sign(payload)}`, expiresIn: Math.max(0, exp - Math.floor(now / 1000)), issuedAt: new Date(now).toISOString() };
  }

  /**
   * The name the token was issued to and the repositories it may pull (canonical names), or a reason it is
   * not valid. A token without an `access` claim grants none (fail closed).
   */
  check(token: string, now = Date.now()): { name: string; pullable: string[]; workload?: { role: Role; repositories?: string[] } } | { error: string } {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return { error: 'not a token issued by this proxy' };
    const expected = Buffer.from(this.sign(parts[1]!));
    const given = Buffer.from(parts[2]!);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { error: 'token signature invalid' };
    try {
      const p = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { sub?: unknown; exp?: unknown; role?: Role; repos?: string[]; access?: Access[] };
      if (typeof p.sub !== 'string' || typeof p.exp !== 'number') return { error: 'token payload invalid' };
      if (p.exp * 1000 <= now) return { error: 'token expired' };
      const pullable = (Array.isArray(p.access) ? p.access : []).filter((a) => a.type === 'repository' && a.actions.includes('pull')).map((a) => a.name);
      if (p.role === undefined) return { name: p.sub, pullable };
      return { name: p.sub, pullable, workload: { role: p.role, ...(p.repos ? { repositories: p.repos } : {}) } };
    } catch {
      return { error: 'token payload invalid' };
    }
  }

  /** Whether a bearer value has the shape of an issued token (otherwise it is a configured token). */
  static looksIssued(token: string): boolean {
    return token.startsWith(`${PREFIX}.`);
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
