import { pathOf, type HttpRequest as Request, type HttpResponse as Response } from '../http/plain.js';
import { clientAddress } from '../http/client-address.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../logger.js';
import { FailureLimiter } from './failure-limiter.js';
import { IssuedTokens } from './issued-tokens.js';
import type { Identity, TokenRegistry } from './token-registry.js';
import { WorkloadVerifier } from './workload-identity.js';

export type AuthOutcome =
  | { kind: 'ok'; identity: Identity }
  | { kind: 'missing' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'blocked'; retryAfter: number };

export interface AuthOptions {
  /** Accept `Basic base64(name:token)`. */
  basic: boolean;
  /** Accept bearer tokens issued by the token endpoint (configured tokens are always accepted as bearer). */
  issued: boolean;
}

type Presented =
  | { scheme: 'none' }
  | { scheme: 'malformed' }
  | { scheme: 'basic'; name: string; secret: string }
  | { scheme: 'bearer'; token: string };

/**
 * Turns an Authorization header into an identity. Bad credentials are counted per client address and
 * claimed user (too many, and that pair's further bad attempts get 429 instead of 401) and recorded as
 * `auth.failure` audit events naming the claimed user and why, never the secret. Valid credentials are
 * always accepted: a block set by someone else's failures behind the same address never locks out a
 * user who holds a valid token.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenRegistry,
    readonly issued: IssuedTokens,
    private readonly limiter: FailureLimiter,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    /** JWTs from `auth.oidc.issuers`, accepted as a Basic password (any user name) or a bearer token. */
    private readonly workloads?: WorkloadVerifier,
  ) {}

  /** Whether JWTs from trusted issuers are accepted (for the hint given to a client without credentials). */
  get acceptsJwts(): boolean {
    return this.workloads !== undefined;
  }

  async authenticate(req: Request, res: Response, opts: AuthOptions): Promise<AuthOutcome> {
    const presented = parseAuthorization(req.headers.authorization);
    if (presented.scheme === 'none') return { kind: 'missing' };
    const found = await this.identify(presented, opts);
    if ('identity' in found) {
      return { kind: 'ok', identity: found.identity };
    }
    const client = clientAddress(req);
    const claimed = presented.scheme === 'basic' ? presented.name.slice(0, 128) : null;
    const key = failureKey(client, claimed);
    // Claiming a new user name each time must not buy unlimited (audited) guesses: the address as a
    // whole has a wider bound too.
    const wide = claimed === null ? undefined : `${client} *`;
    const wait = Math.max(this.limiter.retryAfter(key), wide === undefined ? 0 : this.limiter.retryAfter(wide));
    if (wait > 0) return { kind: 'blocked', retryAfter: wait };
    let blockedFor = 0;
    try {
      blockedFor = await this.limiter.fail(key);
      if (wide !== undefined) blockedFor = Math.max(blockedFor, await this.limiter.fail(wide, undefined, ADDRESS_FAILURES));
    } catch (err) {
      this.log.error('failed-credential count not recorded', { error: String(err) });
    }
    const reasons = [found.reason];
    if (blockedFor > 0) reasons.push(`too many failed attempts from ${client}: further bad attempts refused for ${blockedFor} s`);
    await this.record(req, res, claimed, 401, reasons);
    return { kind: 'invalid', reason: found.reason };
  }

  /** Records a refusal of an authenticated identity (wrong role). */
  forbidden(req: Request, res: Response, identity: Identity, reason: string): Promise<void> {
    return this.record(req, res, identity.name, 403, [reason]);
  }

  /** Matches presented credentials to a configured identity, or says why they do not match. */
  private async identify(p: Presented, opts: AuthOptions): Promise<{ identity: Identity } | { reason: string }> {
    if (p.scheme === 'none' || p.scheme === 'malformed') return { reason: 'malformed Authorization header' };
    if (p.scheme === 'basic') {
      if (!opts.basic) return { reason: 'Basic credentials are not accepted here; send Authorization: Bearer <token>' };
      if (this.workloads && WorkloadVerifier.looksLikeJwt(p.secret)) return this.workloads.verify(p.secret);
      const identity = this.tokens.identify(p.secret, p.name);
      return identity ? { identity } : { reason: `invalid credentials for user "${p.name.slice(0, 128)}"` };
    }
    if (this.workloads && WorkloadVerifier.looksLikeJwt(p.token)) return this.workloads.verify(p.token);
    if (opts.issued && IssuedTokens.looksIssued(p.token)) {
      const checked = this.issued.check(p.token);
      if ('error' in checked) return { reason: checked.error };
      if (checked.workload) return { identity: { name: checked.name, ...checked.workload, pullable: checked.pullable } };
      const identity = this.tokens.byName(checked.name);
      return identity ? { identity: { ...identity, pullable: checked.pullable } } : { reason: 'token names an identity that is no longer configured' };
    }
    const identity = this.tokens.identify(p.token);
    return identity ? { identity } : { reason: 'unknown token' };
  }

  /** Commits the event before the refusal is answered; a failure to write it is logged, the refusal stands. */
  private async record(req: Request, res: Response, user: string | null, status: number, reasons: string[]): Promise<void> {
    await this.audit
      .append({
        kind: 'auth.failure',
        requestId: (res.locals.requestId as string | undefined) ?? null,
        client: clientAddress(req),
        user,
        reference: `${req.method} ${pathOf(req).slice(0, 512)}`,
        reasons,
        status,
      })
      .catch((err: unknown) => this.log.error('audit append failed for an authentication failure', { error: String(err) }));
  }
}

export { clientAddress };

/** Failures from one address across every claimed user name before its further bad attempts wait. */
const ADDRESS_FAILURES = 100;

/** What failures are counted by: the client address and the user the credentials name (none for a bearer token). */
function failureKey(client: string, claimed: string | null): string {
  return claimed === null ? client : `${client} ${claimed}`;
}

function parseAuthorization(header: string | undefined): Presented {
  // No header, a bare scheme, or empty Basic credentials (":"), as some clients send after the challenge: no credentials.
  if (header === undefined || /^\s*(basic\s*(Og==)?)?\s*$/i.test(header)) return { scheme: 'none' };
  const m = /^(\w+)\s+(\S+)\s*$/.exec(header);
  if (!m) return { scheme: 'malformed' };
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', token: m[2]! };
  if (scheme !== 'basic') return { scheme: 'malformed' };
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { scheme: 'malformed' };
  return { scheme: 'basic', name: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
