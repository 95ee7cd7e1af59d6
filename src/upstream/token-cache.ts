/** Bearer tokens per scope, kept until shortly before they expire. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  get(scope: string, now = Date.now()): string | undefined {
    const entry = this.tokens.get(scope);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.tokens.delete(scope);
      return undefined;
    }
    return entry.token;
  }

  drop(scope: string): void {
    this.tokens.delete(scope);
  }

  set(scope: string, token: string, expiresInSeconds: number, now = Date.now()): void {
    // Renew 10% early (at least 5 s) so a token never expires between check and use.
    const lifetime = Math.max(1, expiresInSeconds) * 1000;
    this.tokens.set(scope, { token, expiresAt: now + lifetime - Math.max(5000, lifetime * 0.1) });
    if (this.tokens.size > 10_000) this.tokens.delete(this.tokens.keys().next().value!);
  }
}

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme, params };
}
