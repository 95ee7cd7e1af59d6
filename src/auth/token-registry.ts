import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role, TokenConfig } from '../config/types.js';

export interface Identity {
  name: string;
  role: Role;
  /** A person signed in through single sign-on (see console-sessions.ts). */
  person?: Person;
  /** Globs over <upstream>/<repository> this identity may pull; absent: any (workload identities may be narrowed). */
  repositories?: readonly string[];
  /** For a token from /auth/token: the repositories (canonical names) it grants pull of, and no others. */
  pullable?: readonly string[];
}

/** Who signed in at the provider: the subject and issuer identify them, `name` is for people to read. */
export interface Person {
  subject: string;
  issuer: string;
  name: string;
}

/**
 * The configured tokens, by the sha256 of their secret. A presented token is hashed and compared with
 * every configured hash in constant time, never stopping early, so timing reveals neither which entry
 * matched nor how much of it. The secrets themselves are never held.
 */
export class TokenRegistry {
  private readonly entries: { name: string; role: Role; hash: Buffer }[];

  constructor(tokens: readonly TokenConfig[]) {
    this.entries = tokens.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.tokenSha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The identity whose token this is, if any. With `name`, the token must also belong to that name. */
  identify(token: string, name?: string): Identity | undefined {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let found: Identity | undefined;
    for (const e of this.entries) {
      const same = timingSafeEqual(presented, e.hash);
      if (same && (name === undefined || name === e.name)) found = { name: e.name, role: e.role };
    }
    return found;
  }

  /** The identity by name, for tokens this process issued (the signature already proved who it is). */
  byName(name: string): Identity | undefined {
    const e = this.entries.find((x) => x.name === name);
    return e && { name: e.name, role: e.role };
  }
}
