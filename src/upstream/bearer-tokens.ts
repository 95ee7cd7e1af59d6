import { request, type Dispatcher } from 'undici';
import { networkFailureText } from '../text/network-failure.js';
import { UpstreamError } from './errors.js';
import { TokenCache, parseChallenge } from './token-cache.js';

const TOKEN_RESPONSE_LIMIT = 64 * 1024;

export interface TokenServiceAccess {
  /** The upstream's name, for messages. */
  name: string;
  username?: string;
  password?: string;
  dispatcher: Dispatcher;
  /** Bounds a token request that callers share (each caller still stops waiting when its own signal aborts). */
  deadlineMs: number;
}

/** What a challenge told: the token service (`realm`, `service`), or that the upstream wants basic auth. */
type Learned = { scheme: 'bearer'; realm: URL; service?: string } | { scheme: 'basic' };

/**
 * Docker token auth for one upstream, with as few round trips as the protocol allows: one token request per
 * scope, shared by every request that needs it at the same moment, and kept until shortly before it expires.
 * Once one challenge has named the token service, a repository not seen before asks it for a token before its
 * first request instead of being challenged first (as distribution's own proxy does after its first ping).
 */
export class BearerTokens {
  private readonly cache = new TokenCache();
  private readonly pending = new Map<string, Promise<string>>();
  private learned: Learned | undefined;

  constructor(private readonly access: TokenServiceAccess) {}

  /** The upstream answered a challenge asking for basic auth: credentials go with every request. */
  get basicOnly(): boolean {
    return this.learned?.scheme === 'basic';
  }

  /** A token for `scope` when one is held (no request made). */
  cached(scope: string): string | undefined {
    return this.cache.get(scope);
  }

  /**
   * Before a request: the token for `scope`, asking the token service first when its address is known and no
   * token is held. Undefined when nothing is known yet (the request goes without and is challenged).
   */
  async before(scope: string, signal: AbortSignal): Promise<string | undefined> {
    const held = this.cache.get(scope);
    if (held !== undefined) return held;
    if (this.learned?.scheme !== 'bearer') return undefined;
    return this.obtain(scope, undefined, signal);
  }

  /**
   * After a 401 challenge: learns the token service and gets a token for `scope` (the challenge's own scope is
   * asked for when it names one). `rejected` is the token the refused request carried: a different one held
   * now was fetched meanwhile and is used as is. Returns undefined when the upstream wants basic auth.
   */
  async challenged(headerValue: string | undefined, scope: string, rejected: string | undefined, signal: AbortSignal): Promise<string | undefined> {
    const challenge = parseChallenge(headerValue);
    if (!challenge) throw new UpstreamError('auth', `upstream ${this.access.name} requires authentication without a usable challenge`, 401);
    if (challenge.scheme === 'basic') {
      if (!this.access.username) throw new UpstreamError('auth', `upstream ${this.access.name} requires credentials`, 401);
      this.learned = { scheme: 'basic' };
      return undefined;
    }
    const realm = challenge.params.realm;
    if (!realm) throw new UpstreamError('auth', `upstream ${this.access.name} sent a Bearer challenge without realm`, 401);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamError('auth', `upstream ${this.access.name} sent an invalid token realm`, 401);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UpstreamError('auth', `upstream ${this.access.name} sent an invalid token realm`, 401);
    }
    this.learned = { scheme: 'bearer', realm: url, service: challenge.params.service };
    const held = this.cache.get(scope);
    if (held !== undefined && held !== rejected) return held;
    if (held === rejected) this.cache.drop(scope);
    return this.obtain(scope, challenge.params.scope, signal);
  }

  /** One token request per scope at a time; callers that arrive meanwhile wait for the same answer. */
  private obtain(scope: string, askFor: string | undefined, signal: AbortSignal): Promise<string> {
    let shared = this.pending.get(scope);
    if (!shared) {
      shared = this.fetchToken(scope, askFor ?? scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, shared);
    }
    return untilAborted(shared, signal);
  }

  private async fetchToken(scope: string, askFor: string): Promise<string> {
    const learned = this.learned;
    if (learned?.scheme !== 'bearer') throw new UpstreamError('auth', `upstream ${this.access.name}: no token service known`, 401);
    const url = new URL(learned.realm);
    if (learned.service) url.searchParams.set('service', learned.service);
    url.searchParams.set('scope', askFor);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.access.username) {
      headers.authorization = `Basic ${Buffer.from(`${this.access.username}:${this.access.password ?? ''}`).toString('base64')}`;
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher: this.access.dispatcher, signal: AbortSignal.timeout(this.access.deadlineMs) });
    } catch (err) {
      throw new UpstreamError('unreachable', `token service for ${this.access.name} unreachable: ${networkFailureText(err)}`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new UpstreamError('auth', `token service for ${this.access.name} answered ${res.statusCode}`, res.statusCode);
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(await readLimited(res.body, TOKEN_RESPONSE_LIMIT));
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError('auth', `token service for ${this.access.name} sent invalid JSON`);
    }
    const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new UpstreamError('auth', `token service for ${this.access.name} sent no token`);
    }
    this.cache.set(scope, token, typeof parsed.expires_in === 'number' ? parsed.expires_in : 60);
    return token;
  }
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new UpstreamError('invalid', `token response larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `shared`, unless `signal` aborts first (the shared request goes on for the others). */
function untilAborted<T>(shared: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    shared.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
