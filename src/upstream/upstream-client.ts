import { Agent, request } from 'undici';
import type { Readable } from 'node:stream';
import type { UpstreamConfig } from '../config/types.js';
import type { Logger } from '../logger.js';
import { BearerTokens } from './bearer-tokens.js';
import { UpstreamError } from './errors.js';
import { networkFailureText } from '../text/network-failure.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ConnectionSlots } from './connection-slots.js';
import { RequestGuard, UPSTREAM_LIMIT_DEFAULTS, type GuardLimits, type RequestPurpose } from './request-guard.js';
import { backoff, delay, parseRetryAfter } from './retry-timing.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { dump(): Promise<void>; arrayBuffer(): Promise<ArrayBuffer> };
}

export interface UpstreamStats {
  onRequest?(upstream: string, method: string, status: number | 'error', seconds: number): void;
}

const MAX_REDIRECTS = 5;
const BODY_BUFFER_BYTES = 1024 * 1024;
const MAX_RETRY_WAIT_MS = 5_000;

export interface SendOptions {
  /** `metadata` (the default) has one deadline; `blob` a deadline for its headers, then a minimum rate. */
  purpose?: RequestPurpose;
  /** Aborts when no client waits for the answer any more. */
  signal?: AbortSignal;
}

/**
 * One client per upstream registry: Docker token auth with per-scope caching, basic auth, bounded retries
 * with backoff on 5xx/429/connection errors, Retry-After, timeouts, and redirects that never carry
 * credentials to another host.
 */
export class UpstreamClient {
  private readonly dispatcher: Agent;
  private readonly tokens: BearerTokens;
  private readonly origin: string;
  private readonly limits: GuardLimits;
  private readonly slots: ConnectionSlots;

  constructor(
    readonly config: UpstreamConfig,
    private readonly log: Logger,
    private readonly stats: UpstreamStats = {},
    readonly breaker = new CircuitBreaker(),
  ) {
    this.origin = new URL(config.url).origin;
    const d = UPSTREAM_LIMIT_DEFAULTS;
    const connections = config.maxConnections ?? d.maxConnections;
    this.limits = {
      deadlineMs: config.metadataDeadlineMs ?? d.metadataDeadlineMs,
      minBytesPerSecond: config.blobMinBytesPerSecond ?? d.blobMinBytesPerSecond,
      rateWindowMs: config.blobRateWindowMs ?? d.blobRateWindowMs,
    };
    // Below the pool size, so a repository that holds all its slots leaves connections for the others.
    this.slots = new ConnectionSlots(Math.min(config.maxConnectionsPerRepository ?? d.maxConnectionsPerRepository, connections));
    this.dispatcher = new Agent({
      connect: { timeout: config.connectTimeoutMs },
      headersTimeout: config.idleTimeoutMs,
      bodyTimeout: config.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections,
    });
    this.tokens = new BearerTokens({
      name: config.name,
      username: config.username,
      password: config.password,
      dispatcher: this.dispatcher,
      deadlineMs: this.limits.deadlineMs,
    });
  }

  get name(): string {
    return this.config.name;
  }

  /**
   * Sends a request for `/v2/<repo>/…`, resolving auth challenges and retrying transient failures. While
   * the upstream is marked down, fails at once. Each request waits for one of its repository's connection
   * slots and is bounded in time (see RequestGuard); the slot is held until the response body closes.
   */
  async send(
    method: 'GET' | 'HEAD',
    repository: string,
    path: string,
    headers: Record<string, string> = {},
    options: SendOptions = {},
  ): Promise<UpstreamResponse> {
    const wait = this.breaker.refuse();
    if (wait !== undefined) {
      throw new UpstreamError('unreachable', `upstream ${this.name} is marked down after repeated failures; next try in ${wait} s`);
    }
    const guard = new RequestGuard(this.limits, options.purpose ?? 'metadata', `upstream ${this.name}: ${method} /v2/${path}`, options.signal);
    let release: (() => void) | undefined;
    try {
      release = await this.slots.acquire(repository, guard.signal);
      guard.sending();
      const res = await this.attempt(method, repository, path, headers, guard.signal);
      this.breaker.succeeded();
      guard.watch(res.body, release);
      return res;
    } catch (caught) {
      release?.();
      guard.finish();
      // undici may surface an abort as its own error: the guard's reason says why.
      const err: unknown = guard.signal.aborted ? guard.signal.reason : caught;
      const kind = err instanceof UpstreamError ? (err.kind === 'timeout' && guard.silent ? 'unreachable' : err.kind) : 'unreachable';
      // A slow body, a wait for a connection slot or a client that left says nothing about whether the upstream is up.
      if (kind === 'timeout' || kind === 'abandoned') {
        this.breaker.inconclusive();
        throw err;
      }
      if (kind === 'unreachable' || kind === 'server-error') {
        const wasOpen = this.breaker.isOpen;
        this.breaker.failed();
        if (this.breaker.isOpen && !wasOpen) this.log.warn('upstream marked down', { upstream: this.name, error: (err as Error).message });
      } else {
        this.breaker.succeeded();
      }
      throw err;
    }
  }

  private async attempt(
    method: 'GET' | 'HEAD',
    repository: string,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const url = `${this.config.url}/v2/${path}`;
    const scope = `repository:${repository}:pull`;
    let attempt = 0;
    let authRetried = false;
    let token = await this.tokens.before(scope, signal);
    for (;;) {
      const started = performance.now();
      let res: UpstreamResponse;
      try {
        res = await this.followRedirects(method, url, { ...headers, ...this.authHeader(token) }, signal);
      } catch (err) {
        this.stats.onRequest?.(this.name, method, 'error', (performance.now() - started) / 1000);
        if (err instanceof UpstreamError) throw err;
        if (attempt < this.config.retries) {
          await delay(backoff(attempt++), signal);
          continue;
        }
        throw new UpstreamError('unreachable', `upstream ${this.name} unreachable: ${describe(err)}`);
      }
      this.stats.onRequest?.(this.name, method, res.status, (performance.now() - started) / 1000);

      if (res.status === 401 && !authRetried) {
        await res.body.dump();
        authRetried = true;
        token = await this.tokens.challenged(header(res.headers, 'www-authenticate'), scope, token, signal);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body.dump();
        throw new UpstreamError('auth', `upstream ${this.name} refused access (${res.status})`, res.status);
      }
      if (res.status === 429 || res.status >= 500) {
        await res.body.dump();
        const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'));
        const wait = retryAfter !== undefined ? retryAfter * 1000 : backoff(attempt);
        if (attempt < this.config.retries && wait <= MAX_RETRY_WAIT_MS) {
          attempt++;
          await delay(wait, signal);
          continue;
        }
        if (res.status === 429) {
          throw new UpstreamError('rate-limited', `upstream ${this.name} is rate limiting`, 429, retryAfter);
        }
        throw new UpstreamError('server-error', `upstream ${this.name} answered ${res.status}`, res.status);
      }
      return res;
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  private authHeader(token: string | undefined): Record<string, string> {
    if (token) return { authorization: `Bearer ${token}` };
    if (this.tokens.basicOnly && this.config.username) {
      return { authorization: `Basic ${Buffer.from(`${this.config.username}:${this.config.password ?? ''}`).toString('base64')}` };
    }
    return {};
  }

  /** Follows redirects itself so Authorization is dropped whenever the target leaves the upstream's origin. */
  private async followRedirects(method: 'GET' | 'HEAD', url: string, headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamResponse> {
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      const sameOrigin = target.origin === this.origin;
      const sendHeaders = sameOrigin ? headers : withoutAuth(headers);
      // A large body buffer lets blob downloads take big batches per disk write.
      const res = await request(target, { method, headers: sendHeaders, dispatcher: this.dispatcher, highWaterMark: BODY_BUFFER_BYTES, signal });
      const location = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location && res.statusCode !== 304) {
        await res.body.dump();
        if (hop >= MAX_REDIRECTS) throw new UpstreamError('invalid', `upstream ${this.name} redirected too often`);
        const next = new URL(location, target);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new UpstreamError('invalid', `upstream ${this.name} redirected to an unsupported URL`);
        }
        target = next;
        continue;
      }
      // A body whose connection breaks while its caller is busy elsewhere (checking the disk, taking a lease)
      // emits 'error' with no reader yet: unheard, that would end the process. The reader still gets the
      // error, since a destroyed stream hands it to whoever reads it next.
      res.body.on('error', ignore);
      return { status: res.statusCode, headers: res.headers, body: res.body as UpstreamResponse['body'] };
    }
  }
}

function ignore(): void {}

function withoutAuth(headers: Record<string, string>): Record<string, string> {
  const { authorization: _dropped, ...rest } = headers;
  return rest;
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function readLimited(body: Readable, limit: number): Promise<string> {
  return (await readLimitedBuffer(body, limit)).toString('utf8');
}

export async function readLimitedBuffer(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError('invalid', `response larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function describe(err: unknown): string {
  return networkFailureText(err);
}
