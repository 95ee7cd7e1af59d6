import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTHeaderParameters, type FlattenedJWSInput } from 'jose';

/** The largest discovery document or JWKS read (real ones are a few KiB). */
const MAX_DOCUMENT_BYTES = 512 * 1024;
const FETCH_TIMEOUT_MS = 5000;
/**
 * Keys are fetched again once this old even when no token names an unknown key, so a key the issuer
 * dropped (rotation after a compromise) is refused within this bound (jose's remote JWKS `cacheMaxAge`).
 */
export const DEFAULT_MAX_KEY_AGE_MS = 10 * 60_000;

type KeyGetter = ReturnType<typeof createLocalJWKSet>;

/** Where keys come from: the issuer's discovery document and its jwks_uri, or a file. */
export type KeySource = { kind: 'discovery'; issuer: string } | { kind: 'file'; path: string };

export interface KeyTiming {
  /** Shortest wait between two fetches (jose's `cooldownDuration`). */
  minRefreshMs: number;
  /** Age after which the keys are fetched again before use (default 10 min). */
  maxAgeMs?: number;
  now?: () => number;
}

/**
 * One issuer's signing keys, cached. A token naming a key not in the cache makes the keys be fetched again
 * (the issuer rotated them), but at most once per `minRefreshMs`: tokens with made-up key ids must not turn
 * the proxy into a flood of requests to the issuer. Keys older than `maxAgeMs` are fetched again before
 * use, so a dropped key is refused at most `maxAgeMs` + `minRefreshMs` after the issuer dropped it. A
 * failed fetch keeps the keys already known until they are `maxAgeMs` old; then tokens are refused until a
 * fetch succeeds.
 */
export class IssuerKeys {
  private keys: KeyGetter | undefined;
  private fetchedAt = 0;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastError: string | undefined;
  private pending: Promise<void> | undefined;

  private readonly minRefreshMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly source: KeySource,
    timing: KeyTiming,
  ) {
    this.minRefreshMs = timing.minRefreshMs;
    this.maxAgeMs = timing.maxAgeMs ?? DEFAULT_MAX_KEY_AGE_MS;
    this.now = timing.now ?? Date.now;
  }

  /** The key for a token's header (jose's key resolver); throws jose's JWKSNoMatchingKey or why keys are unavailable. */
  readonly resolve = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey | Uint8Array> => {
    if (!this.keys || this.stale()) await this.refreshIfAllowed();
    if (!this.keys) throw new KeysUnavailable(this.lastError ?? 'not fetched yet');
    // Fail closed, as jose's remote key set does: keys that could not be fetched again may hold one dropped since.
    if (this.stale()) {
      const age = Math.floor((this.now() - this.fetchedAt) / 60_000);
      throw new KeysUnavailable(`the keys fetched ${age} min ago are older than maxKeyAge (${formatMs(this.maxAgeMs)}) and could not be fetched again: ${this.lastError ?? 'a fetch is not allowed yet'}`);
    }
    try {
      return await this.keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      if (!(await this.refreshIfAllowed())) throw err;
      return this.keys(header, token);
    }
  };

  private stale(): boolean {
    return this.now() - this.fetchedAt >= this.maxAgeMs;
  }

  /** Fetches the keys unless a fetch started less than `minRefreshMs` ago; whether a fetch was made. */
  private async refreshIfAllowed(): Promise<boolean> {
    if (this.pending) {
      await this.pending;
      return true;
    }
    if (this.now() - this.attemptedAt < this.minRefreshMs) return false;
    this.attemptedAt = this.now();
    this.pending = this.load()
      .then((jwks) => {
        this.keys = createLocalJWKSet(jwks);
        this.fetchedAt = this.now();
        this.lastError = undefined;
      })
      .catch((err: unknown) => {
        this.lastError = (err as Error).message;
      })
      .finally(() => {
        this.pending = undefined;
      });
    await this.pending;
    return true;
  }

  private async load(): Promise<JSONWebKeySet> {
    if (this.source.kind === 'file') return asJwks(JSON.parse(await readFile(this.source.path, 'utf8')) as unknown, this.source.path);
    const issuer = this.source.issuer;
    const discoveryUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const discovery = (await fetchJson(discoveryUrl)) as { issuer?: unknown; jwks_uri?: unknown };
    if (discovery.issuer !== issuer) throw new Error(`the discovery document at ${discoveryUrl} names issuer ${JSON.stringify(discovery.issuer)}, not ${issuer}`);
    if (typeof discovery.jwks_uri !== 'string') throw new Error(`the discovery document at ${discoveryUrl} has no jwks_uri`);
    const jwksUrl = new URL(discovery.jwks_uri);
    if (jwksUrl.protocol !== 'https:' && new URL(issuer).protocol === 'https:') throw new Error(`jwks_uri ${jwksUrl.href} is not https`);
    return asJwks(await fetchJson(jwksUrl.href), jwksUrl.href);
  }
}

/** The issuer's keys could not be had (the issuer is down, or its documents are wrong). */
export class KeysUnavailable extends Error {}

function asJwks(value: unknown, from: string): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`${from} is not a JWKS (no "keys" array)`);
  return { keys: keys.filter((k): k is JSONWebKeySet['keys'][number] => typeof k === 'object' && k !== null) };
}

/** GET a JSON document within a deadline and a size bound, following no redirects. */
async function fetchJson(url: string): Promise<unknown> {
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  try {
    return await fetchJsonWithin(url, signal);
  } catch (err) {
    if (signal.aborted) throw new Error(`GET ${url} failed: no complete answer within ${FETCH_TIMEOUT_MS / 1000} s`);
    throw err;
  }
}

async function fetchJsonWithin(url: string, signal: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json' } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`GET ${url} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET ${url} answered ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_DOCUMENT_BYTES) {
      await reader.cancel();
      throw new Error(`GET ${url}: the document is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    }
    chunks.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new Error(`GET ${url}: the answer is not JSON`);
  }
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
